//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// haveFMA reports AVX2 with FMA3 (and OS support for the YMM registers).
var haveFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotBlock3x4 sets out[r*4+c] = Σ_{i<k} a[r·lda+i]·b[c·ldb+i] for the 3
// rows of a and 4 rows of b starting at the pointers; k is a positive
// multiple of 8 and the strides are in elements. 12 AVX2 FMA accumulators.
//
//go:noescape
func dotBlock3x4(a *float32, lda int, b *float32, ldb int, k int, out *[12]float32)

// dotBlock1x4 is dotBlock3x4 for a single row of a.
//
//go:noescape
func dotBlock1x4(a *float32, b *float32, ldb int, k int, out *[4]float32)

// gemmTile computes out rows [i0,i1) × columns [j0,j1) (see gemmTileGonum),
// with the AVX2/FMA kernels when the processor has them. K is walked in
// slabs of gemmSlabK so a slab of the tile's b rows (128×256 floats) stays
// in L2 while every row block of a passes it. Within a slab: blocks of 3
// rows × 4 columns (1 × 4 for leftover rows) over the slab's largest
// multiple of 8; the rest of K and leftover columns by scalar dot products.
func gemmTile(out []float32, ldo int, a []float32, lda int, b []float32, ldb int, i0, i1, j0, j1, K int, bias []float32) {
	if !haveFMA || K < 8 {
		gemmTileGonum(out, ldo, a, lda, b, ldb, i0, i1, j0, j1, K, bias)
		return
	}
	var acc [12]float32
	for k0 := 0; k0 < K; k0 += gemmSlabK {
		k1 := min(k0+gemmSlabK, K)
		for i := i0; i < i1; {
			rows := 3
			if i1-i < 3 {
				rows = 1
			}
			for j := j0; j < j1; j += 4 {
				cols := min(4, j1-j)
				vec := (k1 - k0) &^ 7 // elements the FMA kernel sums
				switch {
				case cols < 4 || vec == 0:
					vec = 0
					clear(acc[:])
				case rows == 3:
					dotBlock3x4(&a[i*lda+k0], lda, &b[j*ldb+k0], ldb, vec, &acc)
				default:
					dotBlock1x4(&a[i*lda+k0], &b[j*ldb+k0], ldb, vec, (*[4]float32)(acc[:4]))
				}
				tail := vec < k1-k0
				for r := range rows {
					orow := out[(i+r)*ldo+j : (i+r)*ldo+j+cols]
					for c := range orow {
						v := acc[r*4+c]
						if tail {
							v += dot(a[(i+r)*lda+k0+vec:(i+r)*lda+k1], b[(j+c)*ldb+k0+vec:(j+c)*ldb+k1])
						}
						switch {
						case k0 > 0:
							v += orow[c]
						case bias != nil:
							v += bias[j+c]
						}
						orow[c] = v
					}
				}
			}
			i += rows
		}
	}
}

// gemmSlabK is the K extent of one pass of the FMA tile (a multiple of 8).
const gemmSlabK = 256
