package kernels

import "math"

// Attention is bidirectional (unmasked) multi-head softmax attention:
// for each head h and row i,
//
//	s_ij   = (q_i · k_j) / √headDim
//	out_i  = Σ_j softmax_j(s_i)·v_j
//
// q, k and v are strided views sharing one row stride (row t of head h at
// q[t·stride + h·headDim]), normally the q, k and v columns of the qkv
// projection. out is contiguous [L, nHeads·headDim]. The softmax subtracts
// the row maximum (two passes over a row of scores) and sums in float64.
// Work is split over (head, block of attnRows rows); each task holds only
// attnRows×L scores, so memory is O(L) per row, never L×L per head.
func Attention(out, q, k, v []float32, stride, L, nHeads, headDim int) {
	D := nHeads * headDim
	// vt holds every head's values transposed, [nHeads][headDim][L], so that
	// scores·V is a MatMulTransB.
	vtBuf := getScratch(nHeads * headDim * L)
	defer putScratch(vtBuf)
	vt := *vtBuf
	ParallelFor(nHeads, 1, func(_, lo, hi int) {
		for h := lo; h < hi; h++ {
			for t := range L {
				row := v[t*stride+h*headDim : t*stride+h*headDim+headDim]
				for d, x := range row {
					vt[(h*headDim+d)*L+t] = x
				}
			}
		}
	})
	blocks := (L + attnRows - 1) / attnRows
	scale := float32(1 / math.Sqrt(float64(headDim)))
	parallelTasks(nHeads*blocks, func(task int) {
		h, i0 := task/blocks, task%blocks*attnRows
		m := min(attnRows, L-i0)
		sBuf := getScratch(m * L)
		defer putScratch(sBuf)
		scores := *sBuf
		matMulTransBSerial(scores, L, q[i0*stride+h*headDim:], stride, k[h*headDim:], stride, m, L, headDim, nil)
		for i := range m {
			softmaxScaled(scores[i*L:i*L+L], scale)
		}
		matMulTransBSerial(out[i0*D+h*headDim:], D, scores, L, vt[h*headDim*L:], L, m, headDim, L, nil)
	})
}

// attnRows is the number of query rows one attention task handles.
const attnRows = 32

// softmaxScaled replaces s with softmax(scale·s), stably.
func softmaxScaled(s []float32, scale float32) {
	mx := float32(math.Inf(-1))
	for _, x := range s {
		mx = max(mx, x*scale)
	}
	var sum float64
	for i, x := range s {
		e := math.Exp(float64(x*scale - mx))
		s[i] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for i := range s {
		s[i] *= inv
	}
}
