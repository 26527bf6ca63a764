//go:build cuda

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"diffuapriel/kernels"

	"gorgonia.org/cu"
)

// Every CUDA kernel against its CPU reference in package kernels, on random
// data at sizes that are not multiples of the kernels' tiles or chunks, with
// outputs poisoned (NaN) before each launch.

func TestKernelEmbedGather(t *testing.T) {
	x := newGPUTest(t)
	rng := rand.New(rand.NewPCG(1, 2))
	V, d, L := 301, 67, 45
	table := roundBF16(randn(rng, V*d, 1, 0))
	tokens := make([]int32, L)
	want := make([]float32, L*d)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(V))
		copy(want[i*d:(i+1)*d], table[int(tokens[i])*d:])
	}
	out := x.poisonF32(L * d)
	x.launch("embed_gather", 1, 7, 32, 0, out, x.bf16(table), x.i32(tokens), L, d)
	checkClose(t, "embed_gather", x.readF32(out, L*d), want, 0)
}

func TestKernelConditioning(t *testing.T) {
	x := newGPUTest(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const sigma = 2.75
	n := 77
	W := roundBF16(randn(rng, n*kernels.SigmaFeatures, 0.1, 0))
	b := randn(rng, n, 0.5, 0)
	feat := make([]float32, kernels.SigmaFeatures)
	kernels.SigmaEmbedding(feat, sigma)
	want := make([]float32, n)
	kernels.MatMulTransB(want, feat, W, 1, n, kernels.SigmaFeatures, b)
	for i := range want {
		want[i] = kernels.SiLU(want[i])
	}
	gfeat, out := x.poisonF32(kernels.SigmaFeatures), x.poisonF32(n)
	x.launch("sigma_features", 1, 1, 128, 0, gfeat, x.f32([]float32{sigma}))
	checkClose(t, "sigma_features", x.readF32(gfeat, kernels.SigmaFeatures), feat, 1e-6)
	x.launch("linear_vec", (n+7)/8, 1, 256, 0, out, x.bf16(W), x.f32(b), gfeat, n, kernels.SigmaFeatures, true)
	checkClose(t, "linear_vec+SiLU", x.readF32(out, n), want, 1e-5)
}

func TestKernelGEMM(t *testing.T) {
	x := newGPUTest(t)
	rng := rand.New(rand.NewPCG(5, 6))
	M, N, K := 77, 130, 96
	a, w := roundBF16(randn(rng, M*K, 1, 0)), roundBF16(randn(rng, N*K, 1, 0))
	want := make([]float32, M*N)
	kernels.MatMulTransB(want, a, w, M, N, K, nil)
	ga, gw := x.bf16(a), x.bf16(w)
	out32 := x.poisonF32(M * N)
	x.run(func() error {
		return x.g.blas.linear(uint64(out32), cudaR32F, N, uint64(ga), K, uint64(gw), M, N, K, 0)
	})
	checkClose(t, "GEMM float32 out", x.readF32(out32, M*N), want, 1e-5)
	// beta = 1 accumulates (the reverse Mamba direction adds onto the forward one).
	x.run(func() error {
		return x.g.blas.linear(uint64(out32), cudaR32F, N, uint64(ga), K, uint64(gw), M, N, K, 1)
	})
	twice := make([]float32, len(want))
	for i, v := range want {
		twice[i] = 2 * v
	}
	checkClose(t, "GEMM beta=1", x.readF32(out32, M*N), twice, 1e-5)
	out16 := x.poisonBF16(M * N)
	x.run(func() error {
		return x.g.blas.linear(uint64(out16), cudaR16BF, N, uint64(ga), K, uint64(gw), M, N, K, 0)
	})
	checkClose(t, "GEMM bf16 out", x.readBF16(out16, M*N), want, 5e-3)
}

func TestKernelLayerNormModulate(t *testing.T) {
	x := newGPUTest(t)
	rng := rand.New(rand.NewPCG(7, 8))
	rows, d := 37, 200
	const eps = 1e-5
	h := randn(rng, rows*d, 3, 1)
	w, shift, scale := randn(rng, d, 0.2, 1), randn(rng, d, 0.5, 0), randn(rng, d, 0.5, 0)
	want := make([]float32, rows*d)
	kernels.LayerNorm(want, h, rows, d, w, eps)
	kernels.Modulate(want, rows, d, shift, scale)
	gh, gw, gs, gc := x.f32(h), x.f32(w), x.f32(shift), x.f32(scale)
	out := x.poisonBF16(rows * d)
	x.launch("ln_modulate", rows, 1, 256, 0, out, gh, cu.DevicePtr(0), gw, gs, gc, d, float32(eps))
	checkClose(t, "ln_modulate", x.readBF16(out, rows*d), want, 1e-2)

	// With a row index (the head normalises only queried positions).
	idx := []int32{5, 0, 36, 12}
	sel := make([]float32, len(idx)*d)
	for i, r := range idx {
		copy(sel[i*d:(i+1)*d], want[int(r)*d:])
	}
	out2 := x.poisonBF16(len(idx) * d)
	x.launch("ln_modulate", len(idx), 1, 256, 0, out2, gh, x.i32(idx), gw, gs, gc, d, float32(eps))
	checkClose(t, "ln_modulate rows", x.readBF16(out2, len(idx)*d), sel, 1e-2)
}

func TestKernelGatedRMSNorm(t *testing.T) {
	for _, groups := range []int{1, 3} {
		t.Run(fmt.Sprintf("groups=%d", groups), func(t *testing.T) {
			x := newGPUTest(t)
			rng := rand.New(rand.NewPCG(9, uint64(groups)))
			L, dinner, zstride := 37, 96, 130
			const eps = 1e-5
			y := randn(rng, L*dinner, 1, 0)
			z := roundBF16(randn(rng, L*zstride, 1.5, 0))
			w := randn(rng, dinner, 0.2, 1)
			want := make([]float32, L*dinner)
			kernels.GatedRMSNorm(want, y, z, zstride, w, L, dinner, groups, eps)
			out := x.poisonBF16(L * dinner)
			x.launch("gated_rmsnorm", L, groups, 256, 0, out, x.f32(y), x.bf16(z), zstride, x.f32(w), dinner, groups, float32(eps))
			checkClose(t, "gated_rmsnorm", x.readBF16(out, L*dinner), want, 1e-2)
		})
	}
}

func TestKernelGatedResidual(t *testing.T) {
	x := newGPUTest(t)
	rng := rand.New(rand.NewPCG(10, 11))
	rows, d := 37, 77
	h, y := randn(rng, rows*d, 1, 0), randn(rng, rows*d, 1, 0)
	gate, bias := randn(rng, d, 1, 0), randn(rng, d, 1, 0)
	withBias := make([]float32, len(y))
	for i := range y {
		withBias[i] = y[i] + bias[i%d]
	}
	want := append([]float32(nil), h...)
	kernels.GatedResidualAdd(want, gate, withBias, rows, d)
	gh := x.f32(h)
	x.launch("gated_residual", 1, 5, 64, 0, gh, x.f32(y), x.f32(gate), x.f32(bias), rows, d)
	checkClose(t, "gated_residual+bias", x.readF32(gh, rows*d), want, 1e-6)

	want2 := append([]float32(nil), h...)
	kernels.GatedResidualAdd(want2, gate, y, rows, d)
	gh2 := x.f32(h)
	x.launch("gated_residual", 2, 3, 32, 0, gh2, x.f32(y), x.f32(gate), cu.DevicePtr(0), rows, d)
	checkClose(t, "gated_residual", x.readF32(gh2, rows*d), want2, 1e-6)
}

func TestKernelBiasGELU(t *testing.T) {
	for _, n := range []int{300, 301} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) { testBiasGELU(t, n) })
	}
}

func testBiasGELU(t *testing.T, n int) {
	x := newGPUTest(t)
	rng := rand.New(rand.NewPCG(12, uint64(n)))
	rows := 13
	v, bias := roundBF16(randn(rng, rows*n, 2, 0)), randn(rng, n, 0.5, 0)
	want := make([]float32, len(v))
	for i := range v {
		want[i] = kernels.GELUTanh(v[i] + bias[i%n])
	}
	gv := x.bf16(v)
	x.launch("bias_gelu", 2, 5, 64, 0, gv, x.f32(bias), rows, n)
	checkClose(t, "bias_gelu", x.readBF16(gv, rows*n), want, 1e-2)
}

func TestKernelConvSiLU(t *testing.T) {
	for _, c := range []struct{ C, stride, offset int }{{70, 90, 7}, {72, 96, 8}} {
		for _, reverse := range []bool{false, true} {
			t.Run(fmt.Sprintf("C=%d/reverse=%v", c.C, reverse), func(t *testing.T) {
				x := newGPUTest(t)
				rng := rand.New(rand.NewPCG(14, uint64(c.C)))
				L, K := 101, 4
				in := roundBF16(randn(rng, L*c.stride, 1, 0))
				w, bias := randn(rng, c.C*K, 0.5, 0), randn(rng, c.C, 0.5, 0)
				want := make([]float32, L*c.C)
				kernels.CausalConv1dSiLU(want, in[c.offset:], L, c.C, c.stride, w, bias, K, reverse)
				gin, gw, gb := x.bf16(in), x.f32(w), x.f32(bias)
				out := x.poisonBF16(L * c.C)
				x.run(func() error {
					return x.g.conv(out, gin+cu.DevicePtr(c.offset*bf16Size), c.stride, gw, gb, L, c.C, K, reverse)
				})
				checkClose(t, "conv1d_silu", x.readBF16(out, L*c.C), want, 1e-2)
			})
		}
	}
}

func TestKernelRoPE(t *testing.T) {
	for _, hd := range []int{16, 64} {
		t.Run(fmt.Sprintf("hd=%d", hd), func(t *testing.T) {
			x := newGPUTest(t)
			rng := rand.New(rand.NewPCG(16, uint64(hd)))
			L, nh := 150, 3
			stride := 3 * nh * hd
			qkv := roundBF16(randn(rng, L*stride, 1, 0))
			want := append([]float32(nil), qkv...)
			kernels.RoPE(want, L, nh, hd, stride, 10000)
			kernels.RoPE(want[nh*hd:], L, nh, hd, stride, 10000)
			g := x.bf16(qkv)
			x.launch("rope_qk", 1, 11, 32, 0, g, L, nh, hd, stride, 10000.0)
			checkClose(t, "rope_qk", x.readBF16(g, L*stride), want, 1e-2)
		})
	}
}

func TestKernelSSD(t *testing.T) {
	cases := []struct{ L, nh, hd, ds, groups, chunk int }{
		{333, 4, 16, 16, 1, 64},   // tiny-preset shapes on the tensor cores, 6 chunks, the last short
		{333, 4, 16, 16, 1, 128},  // the same on the recurrent kernel
		{300, 4, 64, 128, 2, 64},  // preset shapes on the tensor cores, 2 groups
		{300, 4, 64, 128, 2, 128}, // the same on the recurrent kernel (4 threads per state row)
		{1000, 2, 32, 64, 1, 64},  // 16 chunks of state passing
		{1, 2, 16, 40, 1, 64},     // one step; d_state not a power of two (recurrent)
		{257, 2, 8, 70, 1, 256},   // split 4 with a ragged last column group (recurrent)
	}
	for _, c := range cases {
		for _, reverse := range []bool{false, true} {
			// The tensor-core scan also runs with all heads of a group in one block.
			for _, hpb := range []int{0, c.nh / c.groups} {
				t.Run(fmt.Sprintf("L=%d/hd=%d/ds=%d/g=%d/Q=%d/reverse=%v/hpb=%d", c.L, c.hd, c.ds, c.groups, c.chunk, reverse, hpb), func(t *testing.T) {
					testSSD(t, c.L, c.nh, c.hd, c.ds, c.groups, c.chunk, reverse, hpb)
				})
			}
		}
	}
}

func testSSD(t *testing.T, L, nh, hd, ds, groups, chunk int, reverse bool, hpb int) {
	x := newGPUTest(t)
	rng := rand.New(rand.NewPCG(uint64(L), uint64(ds)))
	dinner := nh * hd
	cdim := dinner + 2*groups*ds
	dtStride := nh + 3
	xbc := roundBF16(randn(rng, L*cdim, 1, 0))
	dtRaw := roundBF16(randn(rng, L*dtStride, 1, -2))
	dtBias, aLog, skipD := randn(rng, nh, 0.5, 0), randn(rng, nh, 0.7, 0.5), randn(rng, nh, 1, 0)

	dt := make([]float32, L*nh)
	kernels.DtSoftplus(dt, dtRaw, L, nh, dtStride, dtBias)
	A := make([]float32, nh)
	for h := range A {
		A[h] = -float32(math.Exp(float64(aLog[h])))
	}
	want := make([]float32, L*dinner)
	dims := kernels.SSDDims{L: L, NHeads: nh, HeadDim: hd, NGroups: groups, DState: ds}
	kernels.SSDSequential(want, xbc, xbc[dinner:], xbc[dinner+groups*ds:], cdim, dt, A, skipD, dims, reverse)

	chunks := (L + chunk - 1) / chunk
	y := x.poisonF32(L * dinner)
	call := ssdCall{xbc: x.bf16(xbc), dtRaw: x.bf16(dtRaw), dtStride: dtStride, dtBias: x.f32(dtBias), aLog: x.f32(aLog),
		skipD: x.f32(skipD), y: y, states: x.poisonF32(chunks * nh * hd * ds), chunkDA: x.poisonF32(chunks * nh),
		L: L, nh: nh, hd: hd, ds: ds, ngroups: groups, chunk: chunk, reverse: reverse, hpb: hpb}
	x.run(func() error { return x.g.ssdScan(call) })
	// The tensor-core scan multiplies bf16-rounded decay-weighted scores and
	// states; the recurrent one is float32 throughout.
	tol := 1e-4
	if chunk == ssdTCChunk && ssdUsesTC(hd, ds) {
		tol = 1e-2
	}
	checkClose(t, "ssd", x.readF32(y, L*dinner), want, tol)
}

func TestKernelAttention(t *testing.T) {
	for _, c := range []struct{ L, nh, hd int }{{200, 3, 64}, {65, 2, 16}, {130, 2, 128}, {7, 1, 48}} {
		t.Run(fmt.Sprintf("L=%d/hd=%d", c.L, c.hd), func(t *testing.T) {
			x := newGPUTest(t)
			rng := rand.New(rand.NewPCG(uint64(c.L), uint64(c.hd)))
			stride := 3 * c.nh * c.hd
			qkv := roundBF16(randn(rng, c.L*stride, 1, 0))
			D := c.nh * c.hd
			want := make([]float32, c.L*D)
			kernels.Attention(want, qkv, qkv[D:], qkv[2*D:], stride, c.L, c.nh, c.hd)
			out := x.poisonBF16(c.L * D)
			scaleLog2 := float32(math.Log2E / math.Sqrt(float64(c.hd)))
			x.launch(fmt.Sprintf("attention_hd%d", c.hd), (c.L+63)/64, c.nh, 128, 0, x.bf16(qkv), out, c.L, c.nh, scaleLog2)
			checkClose(t, "attention", x.readBF16(out, c.L*D), want, 1e-2)
		})
	}
}

func TestKernelSampleHead(t *testing.T) {
	testSampleHead(t, 41, 1000, 1024)
}

// TestKernelSampleHeadGPT2Vocab runs the head at the real vocabulary size
// (the GEMM's padded row length), where every warp's segment is long.
func TestKernelSampleHeadGPT2Vocab(t *testing.T) {
	testSampleHead(t, 9, 50258, 50304)
}

func testSampleHead(t *testing.T, rows, V, ldl int) {
	maskID := V - 1
	cases := []kernels.HeadParams{
		{Temperature: 0, TopN: 3},
		{Temperature: 1, TopN: 8},
		{Temperature: 0.7, TopK: 50, TopN: 5},
		{Temperature: 1.3, TopP: 0.9, TopN: 2},
		{Temperature: 0.9, TopK: 200, TopP: 0.5, TopN: 8},
		{Temperature: 1, TopK: 1, TopN: 4},
		{Temperature: 1, TopP: 0.001},
		{Temperature: 0, TopK: 5000, TopP: 0.99, TopN: 1},
	}
	for ci, p := range cases {
		t.Run(fmt.Sprintf("T=%g/k=%d/p=%g/n=%d", p.Temperature, p.TopK, p.TopP, p.TopN), func(t *testing.T) {
			x := newGPUTest(t)
			rng := rand.New(rand.NewPCG(20, uint64(ci)))
			logits := make([]float32, rows*ldl)
			for r := range rows {
				// Rows range from flat to sharply peaked.
				scale := float32(0.5 + 4*float64(r)/float64(rows))
				copy(logits[r*ldl:], randn(rng, V, scale, 0))
			}
			bias := randn(rng, V, 0.3, 0)
			uni := make([]float32, rows)
			for i := range uni {
				uni[i] = rng.Float32()
			}
			out := x.alloc(rows * headOutWords * 4)
			x.run(func() error { return cu.MemsetD32(out, 0x7fc00000, int64(rows*headOutWords)) })
			x.launch("sample_head", rows, 1, headThreads, 0, x.f32(logits), ldl, x.f32(bias), V, maskID, p.Temperature,
				p.TopK, p.TopP, p.TopN, x.f32(uni), out)
			res := x.readI32(out, rows*headOutWords)
			p.MaskID = maskID
			for r := range rows {
				z := make([]float32, V)
				for i := range z {
					z[i] = logits[r*ldl+i] + bias[i]
				}
				want, err := kernels.SampleHead(z, p, uni[r], nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := decodeHeadRow(res[r*headOutWords:(r+1)*headOutWords], p.TopN)
				if err != nil {
					t.Fatalf("row %d: %v", r, err)
				}
				compareHeadRow(t, r, got, want)
			}
		})
	}
}

func compareHeadRow(t *testing.T, r int, got PositionStats, want kernels.HeadResult) {
	t.Helper()
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-5+1e-4*math.Abs(float64(b)) }
	if got.Token != want.Token || !near(got.Prob, want.Prob) || !near(got.Margin, want.Margin) || !near(got.Entropy, want.Entropy) {
		t.Errorf("row %d: gpu token %d p %.6g margin %.6g entropy %.6g; cpu token %d p %.6g margin %.6g entropy %.6g",
			r, got.Token, got.Prob, got.Margin, got.Entropy, want.Token, want.Prob, want.Margin, want.Entropy)
	}
	if len(got.Top) != len(want.Top) {
		t.Errorf("row %d: %d top candidates, cpu %d", r, len(got.Top), len(want.Top))
		return
	}
	for k := range got.Top {
		if got.Top[k].Token != want.Top[k].Token || !near(got.Top[k].Prob, want.Top[k].Prob) {
			t.Errorf("row %d: top %d is %v, cpu %v", r, k, got.Top[k], want.Top[k])
		}
	}
}

func TestKernelSampleHeadBadLogits(t *testing.T) {
	x := newGPUTest(t)
	const V, ldl = 300, 320
	logits := make([]float32, 3*ldl)
	for i := range logits {
		logits[i] = float32(i%17) * 0.1
	}
	logits[0*ldl+40] = float32(math.NaN())
	logits[0*ldl+200] = float32(math.Inf(1))
	logits[1*ldl+7] = float32(math.Inf(1))
	for i := range V {
		logits[2*ldl+i] = float32(math.Inf(-1))
	}
	bias := make([]float32, V)
	out := x.alloc(3 * headOutWords * 4)
	x.launch("sample_head", 3, 1, headThreads, 0, x.f32(logits), ldl, x.f32(bias), V, -1, float32(1), 0, float32(0), 0,
		x.f32([]float32{0.5, 0.5, 0.5}), out)
	res := x.readI32(out, 3*headOutWords)
	for r, want := range []string{"logit of token 40 is NaN or +Inf", "logit of token 7 is NaN or +Inf", "no token has a finite logit"} {
		_, err := decodeHeadRow(res[r*headOutWords:(r+1)*headOutWords], 0)
		if err == nil || err.Error() != want {
			t.Errorf("row %d: error %v, want %q", r, err, want)
		}
	}
}
