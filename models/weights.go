package models

import (
	"fmt"
)

// DType is a safetensors element type this project reads and writes.
type DType string

const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
)

// Size is the width of one element in bytes (0 for an unknown dtype).
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// Tensor is one named tensor: its raw little-endian bytes (often a view of a
// memory-mapped file, so never write to Data) and its shape.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Numel is the element count.
func (t *Tensor) Numel() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// TensorSpec is a tensor the architecture needs, with its expected shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// MambaWeights are one direction (fwd or rev) of a bidirectional Mamba-2 mixer.
type MambaWeights struct {
	InProj, ConvW, ConvB, DtBias, ALog, D, Norm, OutProj *Tensor
}

// AttentionWeights are one attention mixer.
type AttentionWeights struct {
	QKV, OutProj *Tensor
}

// BlockWeights are one residual block. Exactly one of Mamba (fwd, rev) or
// Attention is set, according to Kind.
type BlockWeights struct {
	Kind                   string
	Norm1, Norm2           *Tensor
	AdaW, AdaB             *Tensor
	FC1W, FC1B, FC2W, FC2B *Tensor
	Mamba                  [2]*MambaWeights // [0] forward, [1] reverse
	Attention              *AttentionWeights
}

// Weights is a whole model bound to its config, every tensor shape-checked.
// Head is VocabEmbed itself when embeddings are tied.
type Weights struct {
	Config                          *Config
	VocabEmbed                      *Tensor
	SigmaW1, SigmaB1                *Tensor
	SigmaW2, SigmaB2                *Tensor
	Blocks                          []BlockWeights
	FinalNorm, FinalAdaW, FinalAdaB *Tensor
	Head, HeadBias                  *Tensor
}

// TensorSpecs lists every tensor a checkpoint of this config stores, in a
// stable order, with shapes as in MODEL.md §3.
func TensorSpecs(c *Config) []TensorSpec {
	d, v, cd := c.DModel, c.VocabSize, c.CondDim
	specs := []TensorSpec{
		{"vocab_embed.weight", []int{v, d}},
		{"sigma_map.mlp.0.weight", []int{cd, SigmaFeatures}},
		{"sigma_map.mlp.0.bias", []int{cd}},
		{"sigma_map.mlp.2.weight", []int{cd, cd}},
		{"sigma_map.mlp.2.bias", []int{cd}},
	}
	for i, kind := range c.LayerKinds() {
		p := fmt.Sprintf("blocks.%d.", i)
		r := c.MLPHidden(kind)
		specs = append(specs,
			TensorSpec{p + "norm1.weight", []int{d}},
			TensorSpec{p + "norm2.weight", []int{d}},
			TensorSpec{p + "adaLN_modulation.weight", []int{6 * d, cd}},
			TensorSpec{p + "adaLN_modulation.bias", []int{6 * d}},
			TensorSpec{p + "mlp.fc1.weight", []int{r, d}},
			TensorSpec{p + "mlp.fc1.bias", []int{r}},
			TensorSpec{p + "mlp.fc2.weight", []int{d, r}},
			TensorSpec{p + "mlp.fc2.bias", []int{d}},
		)
		if kind == LayerAttention {
			specs = append(specs,
				TensorSpec{p + "mixer.qkv.weight", []int{3 * d, d}},
				TensorSpec{p + "mixer.out_proj.weight", []int{d, d}},
			)
			continue
		}
		h, di, cv := c.MambaHeads(), c.DInner(), c.ConvDim()
		for _, dir := range []string{"fwd", "rev"} {
			m := p + "mixer." + dir + "."
			specs = append(specs,
				TensorSpec{m + "in_proj.weight", []int{c.InProjDim(), d}},
				TensorSpec{m + "conv1d.weight", []int{cv, 1, c.Mamba.DConv}},
				TensorSpec{m + "conv1d.bias", []int{cv}},
				TensorSpec{m + "dt_bias", []int{h}},
				TensorSpec{m + "A_log", []int{h}},
				TensorSpec{m + "D", []int{h}},
				TensorSpec{m + "norm.weight", []int{di}},
				TensorSpec{m + "out_proj.weight", []int{d, di}},
			)
		}
	}
	specs = append(specs,
		TensorSpec{"final.norm.weight", []int{d}},
		TensorSpec{"final.adaLN_modulation.weight", []int{2 * d, cd}},
		TensorSpec{"final.adaLN_modulation.bias", []int{2 * d}},
	)
	if !c.TieEmbeddings {
		specs = append(specs, TensorSpec{"final.linear.weight", []int{v, d}})
	}
	specs = append(specs, TensorSpec{"final.linear.bias", []int{v}})
	return specs
}

// ParamCount is the number of stored parameters of a config.
func ParamCount(c *Config) int64 {
	var n int64
	for _, s := range TensorSpecs(c) {
		k := int64(1)
		for _, x := range s.Shape {
			k *= int64(x)
		}
		n += k
	}
	return n
}

// Bind builds Weights from a tensor lookup, rejecting a missing tensor or a
// wrong shape with a message naming it.
func Bind(c *Config, lookup func(name string) (*Tensor, bool)) (*Weights, error) {
	byName := map[string]*Tensor{}
	for _, s := range TensorSpecs(c) {
		t, ok := lookup(s.Name)
		if !ok {
			return nil, fmt.Errorf("checkpoint: missing tensor %q", s.Name)
		}
		if !sameShape(t.Shape, s.Shape) {
			return nil, fmt.Errorf("checkpoint: tensor %q has shape %v, want %v", s.Name, t.Shape, s.Shape)
		}
		byName[s.Name] = t
	}
	w := &Weights{
		Config:     c,
		VocabEmbed: byName["vocab_embed.weight"],
		SigmaW1:    byName["sigma_map.mlp.0.weight"], SigmaB1: byName["sigma_map.mlp.0.bias"],
		SigmaW2: byName["sigma_map.mlp.2.weight"], SigmaB2: byName["sigma_map.mlp.2.bias"],
		FinalNorm: byName["final.norm.weight"],
		FinalAdaW: byName["final.adaLN_modulation.weight"], FinalAdaB: byName["final.adaLN_modulation.bias"],
		HeadBias: byName["final.linear.bias"],
	}
	w.Head = byName["final.linear.weight"]
	if c.TieEmbeddings {
		w.Head = w.VocabEmbed
	}
	for i, kind := range c.LayerKinds() {
		p := fmt.Sprintf("blocks.%d.", i)
		b := BlockWeights{
			Kind: kind, Norm1: byName[p+"norm1.weight"], Norm2: byName[p+"norm2.weight"],
			AdaW: byName[p+"adaLN_modulation.weight"], AdaB: byName[p+"adaLN_modulation.bias"],
			FC1W: byName[p+"mlp.fc1.weight"], FC1B: byName[p+"mlp.fc1.bias"],
			FC2W: byName[p+"mlp.fc2.weight"], FC2B: byName[p+"mlp.fc2.bias"],
		}
		if kind == LayerAttention {
			b.Attention = &AttentionWeights{QKV: byName[p+"mixer.qkv.weight"], OutProj: byName[p+"mixer.out_proj.weight"]}
		} else {
			for j, dir := range []string{"fwd", "rev"} {
				m := p + "mixer." + dir + "."
				b.Mamba[j] = &MambaWeights{
					InProj: byName[m+"in_proj.weight"], ConvW: byName[m+"conv1d.weight"], ConvB: byName[m+"conv1d.bias"],
					DtBias: byName[m+"dt_bias"], ALog: byName[m+"A_log"], D: byName[m+"D"],
					Norm: byName[m+"norm.weight"], OutProj: byName[m+"out_proj.weight"],
				}
			}
		}
		w.Blocks = append(w.Blocks, b)
	}
	return w, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
