package kernels

import "math"

// SSDDims are the sizes of one Mamba-2 SSD scan: L steps, NHeads heads of
// HeadDim channels, NGroups groups of B/C vectors of DState entries (head h
// uses group h / (NHeads/NGroups)).
type SSDDims struct {
	L, NHeads, HeadDim, NGroups, DState int
}

// The SSD scan (MODEL.md §2.1). Arguments shared by SSDSequential and
// SSDChunked:
//
//   - x, B, C: strided views with one row stride (row t of x at x[t·stride],
//     head h's channels at +h·HeadDim; B and C group g at +g·DState),
//     normally the three column ranges of the conv output.
//   - dt: contiguous [L, NHeads] step sizes, already softplus'd (DtSoftplus).
//   - A: [NHeads] decay rates, A = −exp(A_log) (negative).
//   - D: [NHeads] skip weights.
//   - y: contiguous [L, NHeads·HeadDim] output; every element is written.
//
// For each head h (group g), with state S[HeadDim, DState], S before the
// first step = 0, steps taken in order t = 0..L−1:
//
//	S_t = exp(dt_t[h]·A[h]) · S_{t−1} + dt_t[h] · x_t[h] ⊗ B_t[g]
//	y_t[h] = S_t · C_t[g] + D[h] · x_t[h]
//
// The D skip term is included. reverse=true takes the steps in order
// t = L−1..0 (S before step L−1 = 0), which equals flip(scan(flip(·))).

// SSDSequential is the scan exactly as defined above, one step at a time.
func SSDSequential(y, x, B, C []float32, stride int, dt, A, D []float32, dims SSDDims, reverse bool) {
	L, H, P, N := dims.L, dims.NHeads, dims.HeadDim, dims.DState
	headsPerGroup := H / dims.NGroups
	ParallelFor(H, 1, func(_, lo, hi int) {
		sBuf := getScratch(P * N)
		defer putScratch(sBuf)
		S := *sBuf
		for h := lo; h < hi; h++ {
			clear(S)
			g := h / headsPerGroup
			for u := range L {
				t := stepTime(u, L, reverse)
				dth := dt[t*H+h]
				decay := float32(math.Exp(float64(dth * A[h])))
				xt := x[t*stride+h*P : t*stride+h*P+P]
				bt := B[t*stride+g*N : t*stride+g*N+N]
				ct := C[t*stride+g*N : t*stride+g*N+N]
				yt := y[t*H*P+h*P : t*H*P+h*P+P]
				for p, xp := range xt {
					row := S[p*N : p*N+N]
					coef := dth * xp
					var acc float32
					for n, b := range bt {
						s := decay*row[n] + coef*b
						row[n] = s
						acc += s * ct[n]
					}
					yt[p] = acc + D[h]*xp
				}
			}
		}
	})
}

// SSDChunked computes the same y as SSDSequential with the chunked SSD
// algorithm (Mamba-2, "ssd_minimal"): the steps, in processing order, are
// cut into chunks of `chunk` steps (the last may be shorter). With
// a_u = dt_u·A and cum_i = Σ_{u ≤ i} a_u the decay log within a chunk:
//
//   - intra-chunk (quadratic form, segment-sum decay):
//     y_i += Σ_{j ≤ i} exp(cum_i − cum_j) · dt_j · (C_i·B_j) · x_j
//   - inter-chunk (state entering the chunk):
//     y_i += exp(cum_i) · S_in · C_i
//   - state passing to the next chunk (m = chunk length):
//     S_out = exp(cum_{m−1}) · S_in + Σ_j exp(cum_{m−1} − cum_j) · dt_j · x_j ⊗ B_j
//
// plus D[h]·x_i. Every exponent is ≤ 0, so nothing overflows.
func SSDChunked(y, x, B, C []float32, stride int, dt, A, D []float32, dims SSDDims, reverse bool, chunk int) {
	L, H, P, N := dims.L, dims.NHeads, dims.HeadDim, dims.DState
	headsPerGroup := H / dims.NGroups
	chunk = max(1, min(chunk, L))
	ParallelFor(H, 1, func(_, lo, hi int) {
		buf := getScratch(P*N + chunk)
		defer putScratch(buf)
		S, cum := (*buf)[:P*N], (*buf)[P*N:]
		for h := lo; h < hi; h++ {
			clear(S)
			g := h / headsPerGroup
			xAt := func(t int) []float32 { return x[t*stride+h*P : t*stride+h*P+P] }
			bAt := func(t int) []float32 { return B[t*stride+g*N : t*stride+g*N+N] }
			for c0 := 0; c0 < L; c0 += chunk {
				m := min(chunk, L-c0)
				var run float32
				for i := range m {
					run += dt[stepTime(c0+i, L, reverse)*H+h] * A[h]
					cum[i] = run
				}
				for i := range m {
					ti := stepTime(c0+i, L, reverse)
					ci := C[ti*stride+g*N : ti*stride+g*N+N]
					yi := y[ti*H*P+h*P : ti*H*P+h*P+P]
					inDecay := float32(math.Exp(float64(cum[i])))
					for p := range yi {
						yi[p] = inDecay * dot(S[p*N:p*N+N], ci)
					}
					for j := 0; j <= i; j++ {
						tj := stepTime(c0+j, L, reverse)
						w := float32(math.Exp(float64(cum[i]-cum[j]))) * dt[tj*H+h] * dot(ci, bAt(tj))
						axpy(yi, w, xAt(tj))
					}
					axpy(yi, D[h], xAt(ti))
				}
				total := cum[m-1]
				outDecay := float32(math.Exp(float64(total)))
				for i := range S {
					S[i] *= outDecay
				}
				for j := range m {
					tj := stepTime(c0+j, L, reverse)
					w := float32(math.Exp(float64(total-cum[j]))) * dt[tj*H+h]
					bj := bAt(tj)
					for p, xp := range xAt(tj) {
						axpy(S[p*N:p*N+N], w*xp, bj)
					}
				}
			}
		}
	})
}

// stepTime is the sequence position of the u-th step of a scan.
func stepTime(u, L int, reverse bool) int {
	if reverse {
		return L - 1 - u
	}
	return u
}
