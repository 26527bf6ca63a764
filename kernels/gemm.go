package kernels

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// MatMulTransB computes out[M,N] = a[M,K] · b[N,K]ᵀ, plus bias[N] added to
// every row when bias is not nil:
//
//	out[i][j] = bias[j] + Σ_k a[i][k]·b[j][k]
//
// All matrices are row-major and contiguous. This is the shape of every
// linear layer (weights are stored [out, in]). out is split into tiles that
// Workers() goroutines take in turn; each output element is summed in the
// same order whatever the worker count.
func MatMulTransB(out, a, b []float32, M, N, K int, bias []float32) {
	MatMulTransBStrided(out, N, a, K, b, K, M, N, K, bias)
}

// MatMulTransBStrided is MatMulTransB on strided views: row i of a starts at
// a[i*lda], row j of b at b[j*ldb], row i of out at out[i*ldo]. It lets a
// caller multiply column slices of a wider buffer without copying them.
func MatMulTransBStrided(out []float32, ldo int, a []float32, lda int, b []float32, ldb int, M, N, K int, bias []float32) {
	checkGemm(out, ldo, a, lda, b, ldb, M, N, K, bias)
	tilesN := (N + gemmTileN - 1) / gemmTileN
	tilesM := (M + gemmTileM - 1) / gemmTileM
	parallelTasks(tilesM*tilesN, func(task int) {
		i0, j0 := task/tilesN*gemmTileM, task%tilesN*gemmTileN
		gemmTile(out, ldo, a, lda, b, ldb, i0, min(i0+gemmTileM, M), j0, min(j0+gemmTileN, N), K, bias)
	})
}

// matMulTransBSerial is MatMulTransBStrided on the calling goroutine, for
// kernels that already parallelise over an outer dimension.
func matMulTransBSerial(out []float32, ldo int, a []float32, lda int, b []float32, ldb int, M, N, K int, bias []float32) {
	for i0 := 0; i0 < M; i0 += gemmTileM {
		for j0 := 0; j0 < N; j0 += gemmTileN {
			gemmTile(out, ldo, a, lda, b, ldb, i0, min(i0+gemmTileM, M), j0, min(j0+gemmTileN, N), K, bias)
		}
	}
}

// Tile sizes of the work split: one task computes a gemmTileM×gemmTileN
// block of out.
const (
	gemmTileM = 48
	gemmTileN = 128
)

func checkGemm(out []float32, ldo int, a []float32, lda int, b []float32, ldb int, M, N, K int, bias []float32) {
	if M <= 0 || N <= 0 || K < 0 {
		if M < 0 || N < 0 || K < 0 {
			panic(fmt.Sprintf("kernels: gemm with negative size M=%d N=%d K=%d", M, N, K))
		}
		return
	}
	switch {
	case lda < K || ldb < K || ldo < N:
		panic(fmt.Sprintf("kernels: gemm strides lda=%d ldb=%d ldo=%d too small for K=%d N=%d", lda, ldb, ldo, K, N))
	case len(a) < (M-1)*lda+K:
		panic(fmt.Sprintf("kernels: gemm a has %d elements, need %d", len(a), (M-1)*lda+K))
	case len(b) < (N-1)*ldb+K:
		panic(fmt.Sprintf("kernels: gemm b has %d elements, need %d", len(b), (N-1)*ldb+K))
	case len(out) < (M-1)*ldo+N:
		panic(fmt.Sprintf("kernels: gemm out has %d elements, need %d", len(out), (M-1)*ldo+N))
	case bias != nil && len(bias) < N:
		panic(fmt.Sprintf("kernels: gemm bias has %d elements, need %d", len(bias), N))
	}
}

// gemmTileGonum computes out rows [i0,i1) × columns [j0,j1): it seeds the
// tile with the bias (or zero) and accumulates the product with gonum's
// serial SIMD dot-product kernel. Tiles are at most 48×128, below gonum's
// own parallel threshold, so Workers() alone decides the concurrency.
func gemmTileGonum(out []float32, ldo int, a []float32, lda int, b []float32, ldb int, i0, i1, j0, j1, K int, bias []float32) {
	for i := i0; i < i1; i++ {
		row := out[i*ldo+j0 : i*ldo+j1]
		if bias != nil {
			copy(row, bias[j0:j1])
		} else {
			clear(row)
		}
	}
	if K == 0 {
		return
	}
	m, n := i1-i0, j1-j0
	blas32.Gemm(blas.NoTrans, blas.Trans, 1,
		blas32.General{Rows: m, Cols: K, Stride: lda, Data: a[i0*lda : (i1-1)*lda+K]},
		blas32.General{Rows: n, Cols: K, Stride: ldb, Data: b[j0*ldb : (j1-1)*ldb+K]},
		1, blas32.General{Rows: m, Cols: n, Stride: ldo, Data: out[i0*ldo+j0 : (i1-1)*ldo+j1]})
}
