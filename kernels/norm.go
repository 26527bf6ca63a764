package kernels

import "math"

// LayerNorm normalises every row of x (rows×d, contiguous) and scales it
// by weight (no bias):
//
//	out[r][c] = (x[r][c] − μ_r) / √(σ²_r + eps) · weight[c]
//
// with μ_r and σ²_r the mean and biased variance of row r (accumulated in
// float64). out may alias x.
func LayerNorm(out, x []float32, rows, d int, weight []float32, eps float32) {
	weight = weight[:d]
	ParallelFor(rows, 16, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, or := x[r*d:r*d+d], out[r*d:r*d+d]
			var sum float64
			for _, v := range xr {
				sum += float64(v)
			}
			mean := sum / float64(d)
			var sq float64
			for _, v := range xr {
				dv := float64(v) - mean
				sq += dv * dv
			}
			inv := 1 / math.Sqrt(sq/float64(d)+float64(eps))
			for c, v := range xr {
				or[c] = float32((float64(v)-mean)*inv) * weight[c]
			}
		}
	})
}

// Modulate applies adaLN modulation in place to rows×d (contiguous):
//
//	x[r][c] = x[r][c]·(1 + scale[c]) + shift[c]
func Modulate(x []float32, rows, d int, shift, scale []float32) {
	shift, scale = shift[:d], scale[:d]
	ParallelFor(rows, 64, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*d : r*d+d]
			for c := range xr {
				xr[c] = xr[c]*(1+scale[c]) + shift[c]
			}
		}
	})
}

// GatedRMSNorm is Mamba-2's output norm (mamba_ssm RMSNormGated with
// norm_before_gate=False): with g = y ⊙ SiLU(z), every row is normalised
// per group of n = dInner/nGroups consecutive channels,
//
//	out[t][c] = g[t][c] / √(mean_{c' in group(c)} g[t][c']² + eps) · w[c]
//
// y and out are contiguous [L, dInner]; z is a strided view (row t at
// z[t·zStride]), normally the z columns of the in_proj output. out may alias y.
func GatedRMSNorm(out, y, z []float32, zStride int, w []float32, L, dInner, nGroups int, eps float32) {
	n := dInner / nGroups
	w = w[:dInner]
	ParallelFor(L, 16, func(_, lo, hi int) {
		for t := lo; t < hi; t++ {
			yt, zt, ot := y[t*dInner:t*dInner+dInner], z[t*zStride:t*zStride+dInner], out[t*dInner:t*dInner+dInner]
			for g0 := 0; g0 < dInner; g0 += n {
				var sq float64
				for c := g0; c < g0+n; c++ {
					v := yt[c] * SiLU(zt[c])
					ot[c] = v
					sq += float64(v) * float64(v)
				}
				inv := float32(1 / math.Sqrt(sq/float64(n)+float64(eps)))
				for c := g0; c < g0+n; c++ {
					ot[c] *= inv * w[c]
				}
			}
		}
	})
}
