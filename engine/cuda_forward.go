//go:build cuda

package engine

import (
	"fmt"
	"math"
	"unsafe"

	"diffuapriel/models"

	"gorgonia.org/cu"
)

// The forward pass on the GPU (MODEL.md §2). The residual stream h stays
// float32; GEMM operands are bf16; every GEMM accumulates in float32 and
// writes bf16 when an elementwise kernel consumes it next, float32 when it
// feeds the residual. Per Mamba direction:
//
//	big   = a · in_projᵀ            [L, 2·d_inner + 2·G·N + H]  bf16 (z | xBC | dt)
//	xbc   = SiLU(conv(big.xBC))     [L, conv_dim]               bf16 (reverse taps for rev)
//	y     = SSD(xbc, big.dt) + D·x  [L, d_inner]                float32 (reverse scan for rev)
//	yg    = RMSNorm(y ⊙ SiLU(z))    [L, d_inner]                bf16
//	mix  += yg · out_projᵀ          [L, d]                      float32 (beta 1 for rev)
//
// so flip(Mamba_rev(flip(a))) never materialises a flipped copy.

const (
	bf16Size = 2
	f32Size  = 4
)

// step uploads the inputs and runs the forward pass up to the final
// residual stream act.h: replaying the captured graph for this length when
// there is one, capturing it on the second call at a length, else eagerly.
func (g *GPU) step(tokens []int32, sigma float64) error {
	L := len(tokens)
	if err := g.ensureActivations(L); err != nil {
		return err
	}
	if !g.cfg.TimeConditioning {
		sigma = 0
	}
	s := float32(sigma)
	if err := g.upload(g.act.tokens.ptr, unsafe.Pointer(&tokens[0]), int64(L)*4); err != nil {
		return err
	}
	if err := g.upload(g.act.sigma.ptr, unsafe.Pointer(&s), 4); err != nil {
		return err
	}
	// The upload of s (a Go stack value) must finish before s goes away;
	// pageable copies return once staged, so this is already the case.
	stream := streamHandle(&g.stream)
	switch {
	case g.prof != nil:
		return g.recordForward(L) // profiling times each launch, so no graph
	case g.graph != nil && g.graphL == L:
		return g.graph.launch(stream)
	case !g.noGraph && g.graphErr == nil && g.warmL == L:
		gr, err := captureGraph(stream, func() error { return g.recordForward(L) })
		if err != nil {
			// Capture is an optimisation: remember why it failed and run eagerly.
			g.graphErr = err
			return g.recordForward(L)
		}
		if g.graph != nil {
			g.graph.destroy()
		}
		g.graph, g.graphL = gr, L
		return g.graph.launch(stream)
	default:
		g.warmL = L
		return g.recordForward(L)
	}
}

// ssdTCShapes are the (head dim, d_state) pairs the tensor-core scan is
// built for (SSD_TC_ENTRY in kernels/ssd.cu); other shapes use the
// recurrent scan.
var ssdTCShapes = map[[2]int]bool{{16, 16}: true, {32, 64}: true, {64, 64}: true, {64, 128}: true}

// ssdTCChunk is SSD_TC_Q, the tensor-core scan's chunk length.
const ssdTCChunk = 64

func ssdUsesTC(hd, ds int) bool { return ssdTCShapes[[2]int{hd, ds}] }

// ssdChunk picks the scan chunk length: the tensor-core scan's when it
// applies, else 256 steps, halved (down to 64) while chunks x heads would
// leave the multiprocessors idle.
func (g *GPU) ssdChunk(L int) int {
	if ssdUsesTC(g.cfg.Mamba.HeadDim, g.cfg.Mamba.DState) {
		return ssdTCChunk
	}
	nh := g.cfg.MambaHeads()
	q := 256
	for q > 64 && ((L+q-1)/q)*nh < 2*g.sms {
		q /= 2
	}
	return q
}

// ensureActivations sizes every per-step buffer for L positions; a buffer
// that moves invalidates the captured graph.
func (g *GPU) ensureActivations(L int) error {
	cfg, a := g.cfg, &g.act
	d, cd, n := int64(cfg.DModel), int64(cfg.CondDim), int64(L)
	bigCols, hasMamba := int64(0), false
	for _, k := range cfg.LayerKinds() {
		bigCols = max(bigCols, int64(cfg.MLPHidden(k)))
		if k == models.LayerAttention {
			bigCols = max(bigCols, 3*d)
		} else {
			bigCols = max(bigCols, int64(cfg.InProjDim()))
			hasMamba = true
		}
	}
	type need struct {
		b     *devBuf
		bytes int64
		what  string
	}
	needs := []need{
		{&a.tokens, n * 4, "token ids"}, {&a.sigma, 4, "sigma"}, {&a.feat, models.SigmaFeatures * 4, "sigma features"},
		{&a.c1, cd * 4, "conditioning"}, {&a.cond, cd * 4, "conditioning"}, {&a.mods, int64(g.w.modRows) * 4, "adaLN modulations"},
		{&a.h, n * d * f32Size, "residual stream"}, {&a.a, n * d * bf16Size, "normalised activations"},
		{&a.big, n * bigCols * bf16Size, "projection outputs"}, {&a.att, n * d * bf16Size, "attention output"},
		{&a.mix, n * d * f32Size, "mixer output"},
	}
	if hasMamba {
		di, nh := int64(cfg.DInner()), int64(cfg.MambaHeads())
		chunks := int64((L + g.ssdChunk(L) - 1) / g.ssdChunk(L))
		needs = append(needs,
			need{&a.xbc, n * int64(cfg.ConvDim()) * bf16Size, "conv output"},
			need{&a.y, n * di * f32Size, "SSD output"}, need{&a.yg, n * di * bf16Size, "gated norm output"},
			need{&a.states, chunks * nh * int64(cfg.Mamba.HeadDim*cfg.Mamba.DState) * f32Size, "SSD chunk states"},
			need{&a.chunkDA, chunks * nh * f32Size, "SSD chunk decays"})
	}
	for _, nd := range needs {
		moved, err := g.ensure(nd.b, nd.bytes, nd.what)
		if err != nil {
			return err
		}
		if moved {
			g.dropGraph()
		}
	}
	return nil
}

// recordForward enqueues the whole forward pass for L positions on the
// stream (eagerly or into a capture).
func (g *GPU) recordForward(L int) error {
	cfg, w, a := g.cfg, g.w, &g.act
	d, cd := cfg.DModel, cfg.CondDim
	eps := float32(cfg.NormEps)
	if err := g.launch("sigma_features", 1, 1, 128, 0, a.feat.ptr, a.sigma.ptr); err != nil {
		return err
	}
	if err := g.linearVec(a.c1.ptr, w.sigW1, w.sigB1, a.feat.ptr, cd, models.SigmaFeatures, true); err != nil {
		return err
	}
	if err := g.linearVec(a.cond.ptr, w.sigW2, w.sigB2, a.c1.ptr, cd, cd, true); err != nil {
		return err
	}
	if err := g.linearVec(a.mods.ptr, w.adaW, w.adaB, a.cond.ptr, w.modRows, cd, false); err != nil {
		return err
	}
	gx, gy := g.rowGrid(L, d)
	if err := g.launch("embed_gather", gx, gy, 256, 0, a.h.ptr, w.embed, a.tokens.ptr, L, d); err != nil {
		return err
	}
	for i := range w.blocks {
		blk := &w.blocks[i]
		mod := func(k int) cu.DevicePtr { return a.mods.ptr + cu.DevicePtr((i*6+k)*d*f32Size) }
		if err := g.lnModulate(a.a.ptr, 0, L, blk.norm1, mod(0), mod(1), eps); err != nil {
			return err
		}
		var err error
		if blk.kind == models.LayerAttention {
			err = g.attentionMixer(L, blk)
		} else {
			err = g.mambaMixer(L, blk)
		}
		if err != nil {
			return err
		}
		if err := g.gatedResidual(L, mod(2), 0); err != nil {
			return err
		}
		if err := g.lnModulate(a.a.ptr, 0, L, blk.norm2, mod(3), mod(4), eps); err != nil {
			return err
		}
		if err := g.linear("gemm fc1", a.big.ptr, cudaR16BF, blk.hidden, a.a.ptr, d, blk.fc1W, L, blk.hidden, d, 0); err != nil {
			return err
		}
		gx, gy := g.rowGrid(L, (blk.hidden+1)/2)
		if err := g.launch("bias_gelu", gx, gy, 256, 0, a.big.ptr, blk.fc1B, L, blk.hidden); err != nil {
			return err
		}
		if err := g.linear("gemm fc2", a.mix.ptr, cudaR32F, d, a.big.ptr, blk.hidden, blk.fc2W, L, d, blk.hidden, 0); err != nil {
			return err
		}
		if err := g.gatedResidual(L, mod(5), blk.fc2B); err != nil {
			return err
		}
	}
	return nil
}

func (g *GPU) linearVec(out, W, bias, in cu.DevicePtr, n, k int, siluOut bool) error {
	return g.launch("linear_vec", (n+7)/8, 1, 256, 0, out, W, bias, in, n, k, siluOut)
}

// lnModulate normalises rows of act.h (rowidx selects them; 0 = all L) into
// out as bf16 with the adaLN shift and scale.
func (g *GPU) lnModulate(out, rowidx cu.DevicePtr, rows int, weight, shift, scale cu.DevicePtr, eps float32) error {
	return g.launch("ln_modulate", rows, 1, 256, 0, out, g.act.h.ptr, rowidx, weight, shift, scale, g.cfg.DModel, eps)
}

func (g *GPU) gatedResidual(L int, gate, bias cu.DevicePtr) error {
	d := g.cfg.DModel
	gx, gy := g.rowGrid(L, d)
	return g.launch("gated_residual", gx, gy, 256, 0, g.act.h.ptr, g.act.mix.ptr, gate, bias, L, d)
}

// mambaMixer writes Mamba2_fwd(a) + flip(Mamba2_rev(flip(a))) into act.mix.
func (g *GPU) mambaMixer(L int, blk *gpuBlock) error {
	cfg, a := g.cfg, &g.act
	d, di, cdim, P, nh := cfg.DModel, cfg.DInner(), cfg.ConvDim(), cfg.InProjDim(), cfg.MambaHeads()
	m := cfg.Mamba
	eps := float32(cfg.NormEps)
	xbcIn := a.big.ptr + cu.DevicePtr(di*bf16Size)
	dtRaw := a.big.ptr + cu.DevicePtr((di+cdim)*bf16Size)
	for dir, mw := range blk.mamba {
		reverse := dir == 1
		if err := g.linear("gemm in_proj", a.big.ptr, cudaR16BF, P, a.a.ptr, d, mw.inProj, L, P, d, 0); err != nil {
			return err
		}
		if err := g.conv(a.xbc.ptr, xbcIn, P, mw.convW, mw.convB, L, cdim, m.DConv, reverse); err != nil {
			return err
		}
		if err := g.ssdScan(ssdCall{xbc: a.xbc.ptr, dtRaw: dtRaw, dtStride: P, dtBias: mw.dtBias, aLog: mw.aLog,
			skipD: mw.skipD, y: a.y.ptr, states: a.states.ptr, chunkDA: a.chunkDA.ptr, L: L, nh: nh, hd: m.HeadDim,
			ds: m.DState, ngroups: m.NGroups, chunk: g.ssdChunk(L), reverse: reverse}); err != nil {
			return err
		}
		if err := g.launch("gated_rmsnorm", L, m.NGroups, 256, 0, a.yg.ptr, a.y.ptr, a.big.ptr, P, mw.norm, di,
			m.NGroups, eps); err != nil {
			return err
		}
		beta := float32(0)
		if reverse {
			beta = 1
		}
		if err := g.linear("gemm out_proj", a.mix.ptr, cudaR32F, d, a.yg.ptr, di, mw.outProj, L, d, di, beta); err != nil {
			return err
		}
	}
	return nil
}

// conv runs the depthwise conv + SiLU over C channels of in (rows stride
// apart).
func (g *GPU) conv(out, in cu.DevicePtr, stride int, w, bias cu.DevicePtr, L, C, K int, reverse bool) error {
	gx, gy := g.rowGrid(L, C)
	return g.launch("conv1d_silu", gx, gy, 256, 0, out, in, stride, w, bias, L, C, K, reverse)
}

// ssdCall is one SSD scan (kernels/ssd.cu): inputs, outputs and sizes.
type ssdCall struct {
	xbc, dtRaw                    cu.DevicePtr // conv output [L, conv_dim]; dt columns, rows dtStride apart
	dtStride                      int
	dtBias, aLog, skipD           cu.DevicePtr // float32 [nh]
	y, states, chunkDA            cu.DevicePtr // [L, nh*hd]; [chunks, nh, hd, ds]; [chunks, nh]
	L, nh, hd, ds, ngroups, chunk int
	reverse                       bool
	hpb                           int // heads per block of the tensor-core scan; 0 chooses
}

// ssdScan runs the three passes of the chunked scan: on the tensor cores
// when the shape has a tensor-core kernel and the chunk is ssdTCChunk,
// otherwise with the recurrent kernel.
func (g *GPU) ssdScan(c ssdCall) error {
	chunks := (c.L + c.chunk - 1) / c.chunk
	tc := c.chunk == ssdTCChunk && ssdUsesTC(c.hd, c.ds)
	hpb := c.hpb
	if hpb == 0 {
		// Heads of one group share B, C and C·Bᵀ: a block takes up to 8 of
		// them, while leaving at least 4 blocks per multiprocessor.
		hpb = 8
		for hpb > 1 && ((c.nh/c.ngroups)%hpb != 0 || chunks*c.nh/hpb < 4*g.sms) {
			hpb /= 2
		}
	}
	if tc {
		name := fmt.Sprintf("ssd_tc_state_%d_%d", c.hd, c.ds)
		if err := g.launch(name, chunks, c.nh/hpb, 128, 0, c.xbc, c.dtRaw, c.dtStride, c.dtBias, c.aLog, c.states, c.chunkDA,
			c.L, c.nh, c.ngroups, hpb, c.reverse); err != nil {
			return err
		}
	} else if err := g.ssdRecurrent(c, chunks, false); err != nil {
		return err
	}
	n := c.nh * c.hd * c.ds
	if err := g.launch("ssd_state_pass", (n+255)/256, 1, 256, 0, c.states, c.chunkDA, chunks, c.nh, c.hd, c.ds); err != nil {
		return err
	}
	if tc {
		name := fmt.Sprintf("ssd_tc_output_%d_%d", c.hd, c.ds)
		return g.launch(name, chunks, c.nh/hpb, 128, 0, c.xbc, c.dtRaw, c.dtStride, c.dtBias, c.aLog, c.skipD, c.y, c.states,
			c.L, c.nh, c.ngroups, hpb, c.reverse)
	}
	return g.ssdRecurrent(c, chunks, true)
}

// ssdRecurrent launches one pass of the recurrent scan (ssd_chunk).
func (g *GPU) ssdRecurrent(c ssdCall, chunks int, emit bool) error {
	split := ssdSplit(c.ds)
	tstep := 32 // scan steps staged in shared memory at a time, within the default 48 KiB
	for tstep > 1 && tstep*(c.hd+2*c.ds+2)*f32Size > 48<<10 {
		tstep /= 2
	}
	shmem := tstep * (c.hd + 2*c.ds + 2) * f32Size
	return g.launch("ssd_chunk", chunks, c.nh, c.hd*split, shmem, c.xbc, c.dtRaw, c.dtStride, c.dtBias, c.aLog,
		c.skipD, c.y, c.states, c.chunkDA, c.L, c.nh, c.hd, c.ds, c.ngroups, c.chunk, split, tstep, c.reverse, emit)
}

// attentionMixer writes the attention block's output projection into act.mix.
func (g *GPU) attentionMixer(L int, blk *gpuBlock) error {
	cfg, a := g.cfg, &g.act
	d, nh, hd := cfg.DModel, cfg.Attention.NHeads, cfg.AttnHeadDim()
	if err := g.linear("gemm qkv", a.big.ptr, cudaR16BF, 3*d, a.a.ptr, d, blk.qkv, L, 3*d, d, 0); err != nil {
		return err
	}
	gx, gy := g.rowGrid(L, hd/2)
	if err := g.launch("rope_qk", gx, gy, min(256, (hd/2+31)/32*32), 0, a.big.ptr, L, nh, hd, 3*d, cfg.Attention.RopeTheta); err != nil {
		return err
	}
	scaleLog2 := float32(math.Log2E / math.Sqrt(float64(hd)))
	if err := g.launch(fmt.Sprintf("attention_hd%d", hd), (L+63)/64, nh, 128, 0, a.big.ptr, a.att.ptr, L, nh, scaleLog2); err != nil {
		return err
	}
	return g.linear("gemm attn_out", a.mix.ptr, cudaR32F, d, a.att.ptr, d, blk.attnOut, L, d, d, 0)
}

// headChunk is how many rows one head chunk takes: all of n when their
// logits fit in headLogitBytes, else a multiple of 64 rows that does.
func (g *GPU) headChunk(n int) int {
	most := max(64, headLogitBytes/(g.w.vpad*f32Size)/64*64)
	return min(n, most)
}

// headLogits computes final.linear's output without bias, float32
// [len(pos), vpad], into head.logits, for the positions pos of act.h.
func (g *GPU) headLogits(pos []int32) error {
	cfg, w, h := g.cfg, g.w, &g.head
	n, d := len(pos), cfg.DModel
	rows := int64(g.headChunk(max(n, 1)))
	for _, nd := range []struct {
		b     *devBuf
		bytes int64
		what  string
	}{{&h.xq, rows * int64(d) * bf16Size, "head inputs"}, {&h.logits, rows * int64(w.vpad) * f32Size, "head logits"},
		{&h.positions, rows * 4, "head positions"}, {&h.uniforms, rows * 4, "head uniforms"},
		{&h.out, rows * headOutWords * 4, "head results"}} {
		if _, err := g.ensure(nd.b, nd.bytes, nd.what); err != nil {
			return err
		}
	}
	if err := g.upload(h.positions.ptr, unsafe.Pointer(&pos[0]), int64(n)*4); err != nil {
		return err
	}
	final := g.act.mods.ptr + cu.DevicePtr(6*cfg.NLayers*d*f32Size)
	if err := g.lnModulate(h.xq.ptr, h.positions.ptr, n, w.finalNorm, final, final+cu.DevicePtr(d*f32Size), float32(cfg.NormEps)); err != nil {
		return err
	}
	return g.linear("gemm head", h.logits.ptr, cudaR32F, w.vpad, h.xq.ptr, d, w.head, n, w.vpad, d, 0)
}
