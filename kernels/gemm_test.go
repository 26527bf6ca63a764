package kernels

import (
	"math/rand/v2"
	"testing"
)

func naiveMatMulTransB(a, b []float32, lda, ldb, M, N, K int, bias []float32) []float32 {
	out := make([]float32, M*N)
	for i := range M {
		for j := range N {
			var s float64
			if bias != nil {
				s = float64(bias[j])
			}
			for k := range K {
				s += float64(a[i*lda+k]) * float64(b[j*ldb+k])
			}
			out[i*N+j] = float32(s)
		}
	}
	return out
}

func TestMatMulTransBMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{1, 1, 1}, {5, 7, 3}, {4, 4, 4}, {67, 131, 259}, {130, 3, 1000}, {3, 300, 17}, {9, 37, 531}, {50, 129, 8}} {
		M, N, K := s[0], s[1], s[2]
		a, b, bias := randSlice(r, M*K, 1), randSlice(r, N*K, 1), randSlice(r, N, 1)
		for _, withBias := range []bool{false, true} {
			bb := bias
			if !withBias {
				bb = nil
			}
			out := randSlice(r, M*N, 100) // stale contents must be overwritten
			MatMulTransB(out, a, b, M, N, K, bb)
			if e := relErr(out, naiveMatMulTransB(a, b, K, K, M, N, K, bb)); e > 1e-5 {
				t.Errorf("%dx%dx%d bias=%v: relative error %.3g", M, N, K, withBias, e)
			}
		}
	}
}

func TestMatMulTransBStridedViews(t *testing.T) {
	// Multiply column slices of wider buffers and write into a wider output;
	// the columns outside the views must not change.
	r := rand.New(rand.NewPCG(7, 8))
	M, N, K, lda, ldb, ldo := 9, 70, 33, 40, 35, 75
	a, b := randSlice(r, M*lda, 1), randSlice(r, N*ldb, 1)
	out := randSlice(r, M*ldo, 1)
	before := append([]float32(nil), out...)
	MatMulTransBStrided(out, ldo, a[2:], lda, b[1:], ldb, M, N, K, nil)
	want := naiveMatMulTransB(a[2:], b[1:], lda, ldb, M, N, K, nil)
	for i := range M {
		if e := relErr(out[i*ldo:i*ldo+N], want[i*N:(i+1)*N]); e > 1e-5 {
			t.Fatalf("row %d: relative error %.3g", i, e)
		}
		for j := N; j < ldo && i*ldo+j < len(out); j++ {
			if out[i*ldo+j] != before[i*ldo+j] {
				t.Fatalf("column %d of row %d outside the view changed", j, i)
			}
		}
	}
}
