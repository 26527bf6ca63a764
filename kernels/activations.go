package kernels

import "math"

// SiLU(x) = x·σ(x) = x / (1 + e^(−x)).
func SiLU(x float32) float32 {
	return float32(float64(x) / (1 + math.Exp(-float64(x))))
}

// GELUTanh is the tanh approximation of GELU (PyTorch approximate="tanh"):
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func GELUTanh(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
}

// Softplus(x) = ln(1 + eˣ), returning x itself above 20 as PyTorch's
// F.softplus does (the difference is below float32 resolution there).
func Softplus(x float32) float32 {
	if x > 20 {
		return x
	}
	return float32(math.Log1p(math.Exp(float64(x))))
}

// SiLUInPlace applies SiLU to every element of x, in parallel.
func SiLUInPlace(x []float32) { mapInPlace(x, SiLU) }

// GELUTanhInPlace applies GELUTanh to every element of x, in parallel.
func GELUTanhInPlace(x []float32) { mapInPlace(x, GELUTanh) }

func mapInPlace(x []float32, f func(float32) float32) {
	ParallelFor(len(x), 4096, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] = f(x[i])
		}
	})
}

// DtSoftplus computes the Mamba-2 step sizes dt[t][h] = Softplus(raw[t·stride + h] + bias[h])
// for t < L, h < H; dt is contiguous [L, H], raw a strided view (the dt
// columns of the in_proj output).
func DtSoftplus(dt, raw []float32, L, H, stride int, bias []float32) {
	for t := range L {
		r, o := raw[t*stride:t*stride+H], dt[t*H:t*H+H]
		for h := range H {
			o[h] = Softplus(r[h] + bias[h])
		}
	}
}

// GatedResidualAdd computes h[r][c] += gate[c]·y[r][c] over rows×d
// (contiguous), the gated residual of an adaLN block.
func GatedResidualAdd(h, gate, y []float32, rows, d int) {
	gate = gate[:d]
	ParallelFor(rows, 64, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			hr, yr := h[r*d:r*d+d], y[r*d:r*d+d]
			for c := range hr {
				hr[c] += gate[c] * yr[c]
			}
		}
	})
}
