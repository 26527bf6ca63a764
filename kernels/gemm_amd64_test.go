//go:build amd64 && !purego

package kernels

import (
	"math/rand/v2"
	"testing"
)

func TestDotBlocksFMA(t *testing.T) {
	if !haveFMA {
		t.Skip("no AVX2/FMA on this processor; MatMulTransB uses gonum's kernel")
	}
	r := rand.New(rand.NewPCG(15, 16))
	const lda, ldb, k = 37, 41, 32
	a, b := randSlice(r, 3*lda, 1), randSlice(r, 4*ldb, 1)
	want := naiveMatMulTransB(a, b, lda, ldb, 3, 4, k, nil)
	var got [12]float32
	dotBlock3x4(&a[0], lda, &b[0], ldb, k, &got)
	if e := relErr(got[:], want); e > 1e-6 {
		t.Fatalf("dotBlock3x4: %v, want %v", got, want)
	}
	var one [4]float32
	dotBlock1x4(&a[lda], &b[0], ldb, k, &one)
	if e := relErr(one[:], want[4:8]); e > 1e-6 {
		t.Fatalf("dotBlock1x4: %v, want %v", one, want[4:8])
	}
}
