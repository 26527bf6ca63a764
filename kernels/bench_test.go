package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMatMulTransB reports GFLOP/s at the 240m preset's layer shapes
// (M = sequence length).
func BenchmarkMatMulTransB(b *testing.B) {
	for _, s := range [][3]int{{256, 960, 960}, {1024, 4126, 960}, {1024, 960, 1920}, {32, 50258, 960}} {
		M, N, K := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", M, N, K), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			x, w, out := randSlice(r, M*K, 1), randSlice(r, N*K, 1), make([]float32, M*N)
			for b.Loop() {
				MatMulTransB(out, x, w, M, N, K, nil)
			}
			b.ReportMetric(float64(2*M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSSD compares the two scans at L = 1024 at the tiny preset's
// sizes (8 heads of 16, d_state 16) and the 240m preset's (30 heads of 64,
// d_state 128), one group.
func BenchmarkSSD(b *testing.B) {
	for _, dims := range []SSDDims{
		{L: 1024, NHeads: 8, HeadDim: 16, NGroups: 1, DState: 16},
		{L: 1024, NHeads: 30, HeadDim: 64, NGroups: 1, DState: 128},
	} {
		r := rand.New(rand.NewPCG(2, 2))
		stride := dims.NHeads*dims.HeadDim + 2*dims.DState
		xbc := randSlice(r, dims.L*stride, 1)
		dt := make([]float32, dims.L*dims.NHeads)
		for i := range dt {
			dt[i] = 0.05
		}
		A, D := randSlice(r, dims.NHeads, 1), randSlice(r, dims.NHeads, 1)
		for i := range A {
			A[i] = -1 - 8*r.Float32()
		}
		y := make([]float32, dims.L*dims.NHeads*dims.HeadDim)
		x, B, C := xbc, xbc[dims.NHeads*dims.HeadDim:], xbc[dims.NHeads*dims.HeadDim+dims.DState:]
		name := fmt.Sprintf("P=%d,N=%d/", dims.HeadDim, dims.DState)
		b.Run(name+"sequential", func(b *testing.B) {
			for b.Loop() {
				SSDSequential(y, x, B, C, stride, dt, A, D, dims, false)
			}
		})
		for _, chunk := range []int{32, 64, 128} {
			b.Run(fmt.Sprint(name, "chunked-", chunk), func(b *testing.B) {
				for b.Loop() {
					SSDChunked(y, x, B, C, stride, dt, A, D, dims, false, chunk)
				}
			})
		}
	}
}
