package kernels

// CausalConv1dSiLU is Mamba-2's depthwise causal convolution followed by
// SiLU, over L steps and C channels with kernel width K (w is [C, K],
// bias [C]). Forward:
//
//	out[t][c] = SiLU(bias[c] + Σ_{k<K} w[c][k] · in[t−(K−1)+k][c]),  in[<0] = 0
//
// reverse=true gives flip(conv(flip(in))), i.e. the same taps read from the
// other end:
//
//	out[t][c] = SiLU(bias[c] + Σ_{k<K} w[c][k] · in[t+(K−1)−k][c]),  in[≥L] = 0
//
// in is a strided view (row t at in[t·stride], C channels from there), out
// is contiguous [L, C].
func CausalConv1dSiLU(out, in []float32, L, C, stride int, w, bias []float32, K int, reverse bool) {
	w, bias = w[:C*K], bias[:C]
	ParallelFor(L, 32, func(_, lo, hi int) {
		for t := lo; t < hi; t++ {
			ot := out[t*C : t*C+C]
			copy(ot, bias)
			for k := range K {
				src := t - (K - 1) + k
				if reverse {
					src = t + (K - 1) - k
				}
				if src < 0 || src >= L {
					continue
				}
				row := in[src*stride : src*stride+C]
				for c := range ot {
					ot[c] += w[c*K+k] * row[c]
				}
			}
			for c, v := range ot {
				ot[c] = SiLU(v)
			}
		}
	})
}
