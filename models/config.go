// Package models holds the DiffuApriel architecture description (Config), the
// checkpoint format (safetensors, single file or sharded) and the checkpoints
// the project ships. It knows nothing of how a forward pass is computed.
package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// FormatV1 is the only checkpoint format version this build understands.
const FormatV1 = "diffuapriel/v1"

// Layer kinds, as written in Config.Layers.
const (
	LayerMamba     = "mamba"
	LayerAttention = "attention"
)

// Backbones (MODEL.md §1).
const (
	BackboneMamba       = "mamba"
	BackboneHybrid      = "hybrid"
	BackboneTransformer = "transformer"
)

// MambaConfig holds the Mamba-2 mixer dimensions (MODEL.md §2.1).
type MambaConfig struct {
	DState    int `json:"d_state"`
	DConv     int `json:"d_conv"`
	Expand    int `json:"expand"`
	HeadDim   int `json:"headdim"`
	NGroups   int `json:"ngroups"`
	ChunkSize int `json:"chunk_size"`
}

// AttentionConfig holds the attention mixer settings (MODEL.md §2.2).
type AttentionConfig struct {
	NHeads    int     `json:"n_heads"`
	RopeTheta float64 `json:"rope_theta"`
}

// NoiseConfig names the training noise schedule; the sampler may use another.
// SigmaMin/SigmaMax parameterise the linear and geometric schedules, which
// MODEL.md §4 leaves open (docs/model.md fixes the defaults).
type NoiseConfig struct {
	Schedule string  `json:"schedule"`
	Eps      float64 `json:"eps"`
	SigmaMin float64 `json:"sigma_min,omitempty"`
	SigmaMax float64 `json:"sigma_max,omitempty"`
}

// Config is the JSON model configuration stored with every checkpoint.
type Config struct {
	Format            string          `json:"format"`
	Backbone          string          `json:"backbone"`
	Layers            []string        `json:"layers,omitempty"`
	AttnEvery         int             `json:"attn_every,omitempty"`
	VocabSize         int             `json:"vocab_size"`
	MaskTokenID       int             `json:"mask_token_id"`
	EOSTokenID        int             `json:"eos_token_id"`
	Tokenizer         string          `json:"tokenizer"`
	DModel            int             `json:"d_model"`
	NLayers           int             `json:"n_layers"`
	CondDim           int             `json:"cond_dim"`
	TimeConditioning  bool            `json:"time_conditioning"`
	MLPRatioMamba     int             `json:"mlp_ratio_mamba"`
	MLPRatioAttention int             `json:"mlp_ratio_attention"`
	TieEmbeddings     bool            `json:"tie_embeddings"`
	NormEps           float64         `json:"norm_eps"`
	MaxSeqLen         int             `json:"max_seq_len"`
	Mamba             MambaConfig     `json:"mamba"`
	Attention         AttentionConfig `json:"attention"`
	Noise             NoiseConfig     `json:"noise"`
	// Name is a display name for the playground; not part of the spec, optional.
	Name string `json:"name,omitempty"`
}

// SigmaFeatures is the width of the sinusoidal sigma embedding (MODEL.md §2).
const SigmaFeatures = 256

// ParseConfig decodes and validates a JSON config. Unknown fields are
// rejected so a typo never silently falls back to a default.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// LayerKinds returns the kind of every layer: Layers when given, otherwise
// derived from Backbone and AttnEvery (MODEL.md §1).
func (c *Config) LayerKinds() []string {
	if len(c.Layers) > 0 {
		return c.Layers
	}
	kinds := make([]string, c.NLayers)
	for i := range kinds {
		switch c.Backbone {
		case BackboneTransformer:
			kinds[i] = LayerAttention
		case BackboneHybrid:
			every := c.AttnEvery
			if every <= 0 {
				every = 6
			}
			if (i+1)%every == 0 {
				kinds[i] = LayerAttention
			} else {
				kinds[i] = LayerMamba
			}
		default:
			kinds[i] = LayerMamba
		}
	}
	return kinds
}

// DInner is the Mamba-2 inner width.
func (c *Config) DInner() int { return c.Mamba.Expand * c.DModel }

// MambaHeads is the number of SSD heads.
func (c *Config) MambaHeads() int { return c.DInner() / c.Mamba.HeadDim }

// ConvDim is the channel count of the depthwise conv (x, B and C).
func (c *Config) ConvDim() int { return c.DInner() + 2*c.Mamba.NGroups*c.Mamba.DState }

// InProjDim is the output width of in_proj (z, xBC, dt).
func (c *Config) InProjDim() int { return c.DInner() + c.ConvDim() + c.MambaHeads() }

// MLPHidden is the MLP hidden width after a mixer of the given kind.
func (c *Config) MLPHidden(kind string) int {
	if kind == LayerAttention {
		return c.MLPRatioAttention * c.DModel
	}
	return c.MLPRatioMamba * c.DModel
}

// AttnHeadDim is the per-head width of the attention mixer.
func (c *Config) AttnHeadDim() int { return c.DModel / c.Attention.NHeads }

// Validate checks every field a forward pass depends on and names the first
// offending field.
func (c *Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("config: field %q %s", field, fmt.Sprintf(format, args...))
	}
	if c.Format != FormatV1 {
		return bad("format", "is %q; this build reads %q", c.Format, FormatV1)
	}
	switch c.Backbone {
	case BackboneMamba, BackboneHybrid, BackboneTransformer:
	default:
		return bad("backbone", "is %q; want mamba, hybrid or transformer", c.Backbone)
	}
	if c.Tokenizer != "gpt2" {
		return bad("tokenizer", "is %q; only gpt2 is supported", c.Tokenizer)
	}
	positive := []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"d_model", c.DModel}, {"n_layers", c.NLayers},
		{"cond_dim", c.CondDim}, {"max_seq_len", c.MaxSeqLen},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return bad(p.name, "must be positive, got %d", p.v)
		}
	}
	if c.NLayers > 1024 || c.DModel > 65536 || c.VocabSize > 1<<24 || c.CondDim > 65536 {
		return bad("d_model", "or n_layers, vocab_size, cond_dim is implausibly large")
	}
	if c.MaskTokenID < 0 || c.MaskTokenID >= c.VocabSize {
		return bad("mask_token_id", "is %d, outside the vocabulary of %d", c.MaskTokenID, c.VocabSize)
	}
	if c.EOSTokenID < 0 || c.EOSTokenID >= c.VocabSize || c.EOSTokenID == c.MaskTokenID {
		return bad("eos_token_id", "is %d; must be a vocabulary token other than the mask", c.EOSTokenID)
	}
	if !(c.NormEps > 0) || math.IsInf(c.NormEps, 0) {
		return bad("norm_eps", "must be positive, got %g", c.NormEps)
	}
	if len(c.Layers) > 0 {
		if len(c.Layers) != c.NLayers {
			return bad("layers", "lists %d layers but n_layers is %d", len(c.Layers), c.NLayers)
		}
		for i, k := range c.Layers {
			if k != LayerMamba && k != LayerAttention {
				return bad("layers", "entry %d is %q; want mamba or attention", i, k)
			}
		}
	}
	if c.AttnEvery < 0 {
		return bad("attn_every", "must not be negative, got %d", c.AttnEvery)
	}
	hasMamba, hasAttn := false, false
	for _, k := range c.LayerKinds() {
		hasMamba = hasMamba || k == LayerMamba
		hasAttn = hasAttn || k == LayerAttention
	}
	if hasMamba {
		m := c.Mamba
		for _, p := range []struct {
			name string
			v    int
		}{{"mamba.d_state", m.DState}, {"mamba.d_conv", m.DConv}, {"mamba.expand", m.Expand},
			{"mamba.headdim", m.HeadDim}, {"mamba.ngroups", m.NGroups}, {"mamba.chunk_size", m.ChunkSize},
			{"mlp_ratio_mamba", c.MLPRatioMamba}} {
			if p.v <= 0 || p.v > 65536 {
				return bad(p.name, "must be in 1..65536, got %d", p.v)
			}
		}
		if c.DInner()%m.HeadDim != 0 {
			return bad("mamba.headdim", "(%d) must divide d_inner = expand*d_model = %d", m.HeadDim, c.DInner())
		}
		if c.MambaHeads()%m.NGroups != 0 {
			return bad("mamba.ngroups", "(%d) must divide nheads = %d", m.NGroups, c.MambaHeads())
		}
	}
	if hasAttn {
		a := c.Attention
		if a.NHeads <= 0 || c.DModel%a.NHeads != 0 {
			return bad("attention.n_heads", "(%d) must be positive and divide d_model = %d", a.NHeads, c.DModel)
		}
		if c.AttnHeadDim()%2 != 0 {
			return bad("attention.n_heads", "gives an odd head_dim %d; RoPE needs an even one", c.AttnHeadDim())
		}
		if !(a.RopeTheta > 1) || math.IsInf(a.RopeTheta, 0) {
			return bad("attention.rope_theta", "must be > 1, got %g", a.RopeTheta)
		}
		if c.MLPRatioAttention <= 0 || c.MLPRatioAttention > 65536 {
			return bad("mlp_ratio_attention", "must be in 1..65536, got %d", c.MLPRatioAttention)
		}
	}
	switch c.Noise.Schedule {
	case "loglinear", "linear", "cosine", "cosine2", "geometric":
	default:
		return bad("noise.schedule", "is %q; want loglinear, linear, cosine, cosine2 or geometric", c.Noise.Schedule)
	}
	if c.Noise.Eps < 0 || c.Noise.Eps >= 1 || math.IsNaN(c.Noise.Eps) {
		return bad("noise.eps", "must be in [0, 1), got %g", c.Noise.Eps)
	}
	return nil
}
