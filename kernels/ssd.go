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
// algorithm (Mamba-2's "ssd_minimal"): the sequence is cut into blocks of
// `chunk` consecutive positions (the last may be shorter); the scan visits
// the blocks in processing order (ascending, or descending when reverse) and
// carries the state S[HeadDim, DState] from one block to the next. Inside a
// block, with a_u = dt_u[h]·A[h] and, at block position i, the decay log
// cum_i = Σ a_u over the block's steps processed up to and including i
// (a prefix sum forward, a suffix sum in reverse) and total = the sum over
// the whole block:
//
//   - intra-block (quadratic form with segment-sum decay), over the steps j
//     processed no later than i (j <= i forward, j >= i in reverse):
//     y_i += Σ_j exp(cum_i − cum_j) · dt_j · (C_i·B_j) · x_j
//   - the state entering the block: y_i += exp(cum_i) · S · C_i
//   - the state leaving it:
//     S = exp(total) · S + Σ_j exp(total − cum_j) · dt_j · x_j ⊗ B_j
//
// plus D[h]·x_i. Every exponent is <= 0, so nothing overflows. The products
// are matrix multiplications (C·Bᵀ per group and block, then per head
// W·X, C·Sᵀ and (X·w)ᵀ·B), so this is the fast scan for wide heads.
func SSDChunked(y, x, B, C []float32, stride int, dt, A, D []float32, dims SSDDims, reverse bool, chunk int) {
	L, H, P, N, G := dims.L, dims.NHeads, dims.HeadDim, dims.DState, dims.NGroups
	Q := max(1, min(chunk, L))
	blocks := (L + Q - 1) / Q
	headsPerGroup := H / G

	// Per group and block: CB[i][j] = C_i·B_j ([Q, Q]) and Bᵀ ([N, Q]).
	cbBuf, btBuf := getScratch(G*blocks*Q*Q), getScratch(G*blocks*N*Q)
	defer putScratch(cbBuf)
	defer putScratch(btBuf)
	cb, bt := *cbBuf, *btBuf
	ParallelFor(G*blocks, 1, func(_, lo, hi int) {
		for task := lo; task < hi; task++ {
			g, blk := task/blocks, task%blocks
			t0 := blk * Q
			m := min(Q, L-t0)
			matMulTransBSerial(cb[task*Q*Q:], Q, C[t0*stride+g*N:], stride, B[t0*stride+g*N:], stride, m, m, N, nil)
			btBlk := bt[task*N*Q : (task+1)*N*Q]
			for j := range m {
				row := B[(t0+j)*stride+g*N : (t0+j)*stride+g*N+N]
				for n, v := range row {
					btBlk[n*Q+j] = v
				}
			}
		}
	})

	ParallelFor(H, 1, func(_, lo, hi int) {
		buf := getScratch(Q + 3*P*Q + Q*Q + 2*Q*P + 2*P*N)
		defer putScratch(buf)
		w := *buf
		cum, w := w[:Q], w[Q:]
		xt, w := w[:P*Q], w[P*Q:]    // x of the block, transposed [P, Q]
		xwt, w := w[:P*Q], w[P*Q:]   // xt with column j scaled by the state weight
		wts, w := w[:Q*Q], w[Q*Q:]   // intra-block weights [Q, Q]
		intra, w := w[:Q*P], w[Q*P:] // [Q, P]
		inter, w := w[:Q*P], w[Q*P:] // C·Sᵀ [Q, P]
		S, w := w[:P*N], w[P*N:]
		dS := w[:P*N]
		for h := lo; h < hi; h++ {
			g := h / headsPerGroup
			clear(S)
			for k := range blocks {
				blk := k
				if reverse {
					blk = blocks - 1 - k
				}
				t0 := blk * Q
				m := min(Q, L-t0)
				var run float32
				for u := range m {
					i := u
					if reverse {
						i = m - 1 - u
					}
					run += dt[(t0+i)*H+h] * A[h]
					cum[i] = run
				}
				total := run
				for j := range m {
					xj := x[(t0+j)*stride+h*P : (t0+j)*stride+h*P+P]
					for p, v := range xj {
						xt[p*Q+j] = v
					}
				}
				cbBlk := cb[(g*blocks+blk)*Q*Q:]
				for i := range m {
					row := wts[i*Q : i*Q+m]
					for j := range row {
						processedBefore := j <= i
						if reverse {
							processedBefore = j >= i
						}
						if !processedBefore {
							row[j] = 0
							continue
						}
						row[j] = float32(math.Exp(float64(cum[i]-cum[j]))) * dt[(t0+j)*H+h] * cbBlk[i*Q+j]
					}
				}
				matMulTransBSerial(intra, P, wts, Q, xt, Q, m, P, m, nil)
				matMulTransBSerial(inter, P, C[t0*stride+g*N:], stride, S, N, m, P, N, nil)
				for i := range m {
					inDecay := float32(math.Exp(float64(cum[i])))
					xi := x[(t0+i)*stride+h*P : (t0+i)*stride+h*P+P]
					yi := y[(t0+i)*H*P+h*P : (t0+i)*H*P+h*P+P]
					for p := range yi {
						yi[p] = intra[i*P+p] + inDecay*inter[i*P+p] + D[h]*xi[p]
					}
				}
				for j := range m {
					wj := float32(math.Exp(float64(total-cum[j]))) * dt[(t0+j)*H+h]
					for p := range P {
						xwt[p*Q+j] = xt[p*Q+j] * wj
					}
				}
				matMulTransBSerial(dS, N, xwt, Q, bt[(g*blocks+blk)*N*Q:], Q, P, N, m, nil)
				outDecay := float32(math.Exp(float64(total)))
				for i := range S {
					S[i] = outDecay*S[i] + dS[i]
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
