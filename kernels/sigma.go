package kernels

import "math"

// SigmaFeatures is the width of SigmaEmbedding's output.
const SigmaFeatures = 256

// SigmaEmbedding writes the sinusoidal features of the noise level
// (MODEL.md §2, sigma_map's input) into out[0:256]: with
// f_k = exp(−ln(10000)·k/128) for k < 128,
//
//	out[k] = cos(sigma·f_k),  out[128+k] = sin(sigma·f_k)
//
// computed in float64.
func SigmaEmbedding(out []float32, sigma float64) {
	const half = SigmaFeatures / 2
	out = out[:SigmaFeatures]
	for k := range half {
		f := math.Exp(-math.Log(10000) * float64(k) / half)
		s, c := math.Sincos(sigma * f)
		out[k], out[half+k] = float32(c), float32(s)
	}
}
