package kernels

import "math"

// RoPE rotates, in place, every head of x (L rows, row t at x[t·stride],
// nHeads heads of headDim from there) by its position, with rotate-half
// pairing: for j < headDim/2 and angle θ_tj = t · theta^(−2j/headDim),
//
//	x'[j]           = x[j]·cos θ − x[j+headDim/2]·sin θ
//	x'[j+headDim/2] = x[j+headDim/2]·cos θ + x[j]·sin θ
//
// Angles and their sines are computed in float64. headDim must be even.
func RoPE(x []float32, L, nHeads, headDim, stride int, theta float64) {
	half := headDim / 2
	ParallelFor(L, 16, func(_, lo, hi int) {
		for t := lo; t < hi; t++ {
			row := x[t*stride : t*stride+nHeads*headDim]
			for j := range half {
				angle := float64(t) * math.Pow(theta, -2*float64(j)/float64(headDim))
				s, c := math.Sincos(angle)
				sin, cos := float32(s), float32(c)
				for h := range nHeads {
					a, b := row[h*headDim+j], row[h*headDim+j+half]
					row[h*headDim+j] = a*cos - b*sin
					row[h*headDim+j+half] = b*cos + a*sin
				}
			}
		}
	})
}
