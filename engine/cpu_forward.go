package engine

import (
	"errors"
	"fmt"
	"math"

	"diffuapriel/kernels"
	"diffuapriel/models"
)

// cpuScratch holds every buffer of a forward pass. Buffers grow to the
// longest sequence seen and are reused, so a step allocates nothing large.
type cpuScratch struct {
	h, a, mix, dirOut []float32 // [L, d]
	zxbcdt            []float32 // [L, in_proj dim]
	conv              []float32 // [L, conv_dim]
	dt                []float32 // [L, nheads]
	y                 []float32 // [L, d_inner]
	qkv               []float32 // [L, 3d]
	attn              []float32 // [L, d]
	hidden            []float32 // [L, largest MLP hidden]
	sigmaFeat         []float32 // [256]
	cond, condHidden  []float32 // [cond_dim]
	mods              []float32 // [n_layers·6d + 2d] adaLN outputs
	headRows          []float32 // [headRows, d] rows gathered for the head
	headLogits        []float32 // [headRows, V]
	headWork          []float32 // [workers, 2V] SampleHead scratch
}

func (s *cpuScratch) bytes() int {
	n := 0
	for _, b := range [][]float32{s.h, s.a, s.mix, s.dirOut, s.zxbcdt, s.conv, s.dt, s.y, s.qkv, s.attn,
		s.hidden, s.sigmaFeat, s.cond, s.condHidden, s.mods, s.headRows, s.headLogits, s.headWork} {
		n += cap(b)
	}
	return n
}

// grow returns buf resliced to n elements, reallocating only when its
// capacity is short. Contents are unspecified.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// checkInput rejects an empty or too long sequence, an out-of-vocabulary
// token and a sigma that is not a finite non-negative number.
func (c *CPU) checkInput(tokens []int32, sigma float64) error {
	if c.w == nil {
		return errors.New("cpu backend: no model loaded")
	}
	cfg := c.cfg
	switch {
	case len(tokens) == 0:
		return errors.New("cpu backend: empty input sequence")
	case len(tokens) > cfg.MaxSeqLen:
		return fmt.Errorf("cpu backend: sequence of %d tokens exceeds max_seq_len %d", len(tokens), cfg.MaxSeqLen)
	case !(sigma >= 0) || math.IsInf(sigma, 0):
		return fmt.Errorf("cpu backend: sigma must be a finite number >= 0, got %v", sigma)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= cfg.VocabSize {
			return fmt.Errorf("cpu backend: token id %d at position %d is outside the vocabulary [0, %d)", t, i, cfg.VocabSize)
		}
	}
	return nil
}

// forward runs MODEL.md §2 up to the head's input,
// LayerNorm(h; final.norm)·(1+sc)+sh, returned as [L, d] (scratch memory,
// valid until the next call).
func (c *CPU) forward(tokens []int32, sigma float64) ([]float32, error) {
	if err := c.checkInput(tokens, sigma); err != nil {
		return nil, err
	}
	kernels.SetWorkers(c.threads)
	cfg, w, s := c.cfg, c.w, &c.s
	L, d := len(tokens), cfg.DModel
	eps := float32(cfg.NormEps)
	s.h, s.a, s.mix = grow(s.h, L*d), grow(s.a, L*d), grow(s.mix, L*d)
	for t, tok := range tokens {
		copy(s.h[t*d:(t+1)*d], w.embed[int(tok)*d:(int(tok)+1)*d])
	}
	c.conditioning(sigma)

	for i := range w.blocks {
		b := &w.blocks[i]
		mod := s.mods[i*6*d : (i+1)*6*d]
		shift1, scale1, gate1 := mod[0:d], mod[d:2*d], mod[2*d:3*d]
		shift2, scale2, gate2 := mod[3*d:4*d], mod[4*d:5*d], mod[5*d:6*d]

		kernels.LayerNorm(s.a, s.h, L, d, b.norm1, eps)
		kernels.Modulate(s.a, L, d, shift1, scale1)
		if b.kind == models.LayerAttention {
			c.attention(b, L)
		} else {
			c.mamba(b, L)
		}
		kernels.GatedResidualAdd(s.h, gate1, s.mix, L, d)

		kernels.LayerNorm(s.a, s.h, L, d, b.norm2, eps)
		kernels.Modulate(s.a, L, d, shift2, scale2)
		s.hidden = grow(s.hidden, L*b.hidden)
		kernels.MatMulTransB(s.hidden, s.a, b.fc1W, L, b.hidden, d, b.fc1B)
		kernels.GELUTanhInPlace(s.hidden)
		kernels.MatMulTransB(s.mix, s.hidden, b.fc2W, L, d, b.hidden, b.fc2B)
		kernels.GatedResidualAdd(s.h, gate2, s.mix, L, d)
	}
	final := s.mods[len(w.blocks)*6*d:]
	kernels.LayerNorm(s.a, s.h, L, d, w.finalNorm, eps)
	kernels.Modulate(s.a, L, d, final[0:d], final[d:2*d])
	return s.a, nil
}

// conditioning computes c = SiLU(sigma_map(sigma)) and from it every adaLN
// modulation vector into s.mods (blocks' 6d each, then the final 2d).
func (c *CPU) conditioning(sigma float64) {
	cfg, w, s := c.cfg, c.w, &c.s
	if !cfg.TimeConditioning {
		sigma = 0
	}
	cd, d := cfg.CondDim, cfg.DModel
	s.sigmaFeat = grow(s.sigmaFeat, kernels.SigmaFeatures)
	s.condHidden, s.cond = grow(s.condHidden, cd), grow(s.cond, cd)
	kernels.SigmaEmbedding(s.sigmaFeat, sigma)
	kernels.MatMulTransB(s.condHidden, s.sigmaFeat, w.sigW1, 1, cd, kernels.SigmaFeatures, w.sigB1)
	kernels.SiLUInPlace(s.condHidden)
	kernels.MatMulTransB(s.cond, s.condHidden, w.sigW2, 1, cd, cd, w.sigB2)
	kernels.SiLUInPlace(s.cond)

	s.mods = grow(s.mods, len(w.blocks)*6*d+2*d)
	for i := range w.blocks {
		b := &w.blocks[i]
		kernels.MatMulTransB(s.mods[i*6*d:(i+1)*6*d], s.cond, b.adaW, 1, 6*d, cd, b.adaB)
	}
	kernels.MatMulTransB(s.mods[len(w.blocks)*6*d:], s.cond, w.finalAdaW, 1, 2*d, cd, w.finalAdaB)
}

// mamba computes the bidirectional Mamba-2 mixer of s.a into s.mix:
// fwd(a) + flip(rev(flip(a))), the reverse direction run as a reverse
// conv and scan over the unflipped sequence (MODEL.md §2.1).
func (c *CPU) mamba(b *cpuBlock, L int) {
	cfg, s := c.cfg, &c.s
	d, di, cv, nh := cfg.DModel, cfg.DInner(), cfg.ConvDim(), cfg.MambaHeads()
	inDim, gn := cfg.InProjDim(), cfg.Mamba.NGroups*cfg.Mamba.DState
	s.zxbcdt, s.conv = grow(s.zxbcdt, L*inDim), grow(s.conv, L*cv)
	s.dt, s.y, s.dirOut = grow(s.dt, L*nh), grow(s.y, L*di), grow(s.dirOut, L*d)
	dims := kernels.SSDDims{L: L, NHeads: nh, HeadDim: cfg.Mamba.HeadDim, NGroups: cfg.Mamba.NGroups, DState: cfg.Mamba.DState}
	for dir, m := range b.mamba {
		reverse := dir == 1
		kernels.MatMulTransB(s.zxbcdt, s.a, m.inProj, L, inDim, d, nil)
		kernels.CausalConv1dSiLU(s.conv, s.zxbcdt[di:], L, cv, inDim, m.convW, m.convB, cfg.Mamba.DConv, reverse)
		kernels.DtSoftplus(s.dt, s.zxbcdt[di+cv:], L, nh, inDim, m.dtBias)
		kernels.SSDChunked(s.y, s.conv, s.conv[di:], s.conv[di+gn:], cv, s.dt, m.negA, m.skipD, dims, reverse, cpuSSDChunk)
		kernels.GatedRMSNorm(s.y, s.y, s.zxbcdt, inDim, m.norm, L, di, cfg.Mamba.NGroups, float32(cfg.NormEps))
		out := s.mix
		if reverse {
			out = s.dirOut
		}
		kernels.MatMulTransB(out, s.y, m.outProj, L, d, di, nil)
	}
	for i, v := range s.dirOut {
		s.mix[i] += v
	}
}

// cpuSSDChunk is the CPU scan's block length. Any chunking gives the same y
// (MODEL.md §2.1), so this ignores the config's chunk_size: 64 was fastest
// in BenchmarkSSD at both the tiny and the 240m head sizes.
const cpuSSDChunk = 64

// attention computes the bidirectional RoPE attention mixer of s.a into s.mix.
func (c *CPU) attention(b *cpuBlock, L int) {
	cfg, s := c.cfg, &c.s
	d, nh, hd := cfg.DModel, cfg.Attention.NHeads, cfg.AttnHeadDim()
	s.qkv, s.attn = grow(s.qkv, L*3*d), grow(s.attn, L*d)
	kernels.MatMulTransB(s.qkv, s.a, b.qkv, L, 3*d, d, nil)
	kernels.RoPE(s.qkv, L, nh, hd, 3*d, cfg.Attention.RopeTheta)
	kernels.RoPE(s.qkv[d:], L, nh, hd, 3*d, cfg.Attention.RopeTheta)
	kernels.Attention(s.attn, s.qkv, s.qkv[d:], s.qkv[2*d:], 3*d, L, nh, hd)
	kernels.MatMulTransB(s.mix, s.attn, b.attnOut, L, d, d, nil)
}
