//go:build !amd64 || purego

package kernels

// gemmTile computes one output tile; without the amd64 FMA kernel it is
// gonum's serial kernel.
func gemmTile(out []float32, ldo int, a []float32, lda int, b []float32, ldb int, i0, i1, j0, j1, K int, bias []float32) {
	gemmTileGonum(out, ldo, a, lda, b, ldb, i0, i1, j0, j1, K, bias)
}
