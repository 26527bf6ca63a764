package models

import "fmt"

// GPT-2 vocabulary plus the mask token.
const (
	GPT2Vocab     = 50257
	GPT2EOS       = 50256
	DefaultVocab  = GPT2Vocab + 1
	DefaultMaskID = GPT2Vocab
)

// PresetNames lists the presets `diffuapriel init` knows, smallest first.
var PresetNames = []string{"tiny", "240m", "1.3b"}

// presetDims gives d_model, layer count per backbone and attention heads
// (MODEL.md §2.3). tiny is the engine's own test size.
type presetDims struct {
	dModel, cond, heads int
	layers              map[string]int
	attnEvery           int
	tied                bool
	mamba               MambaConfig
}

var presets = map[string]presetDims{
	"tiny": {
		dModel: 64, cond: 32, heads: 4, attnEvery: 2, tied: true,
		layers: map[string]int{BackboneMamba: 4, BackboneHybrid: 4, BackboneTransformer: 4},
		mamba:  MambaConfig{DState: 16, DConv: 4, Expand: 2, HeadDim: 16, NGroups: 1, ChunkSize: 16},
	},
	"240m": {
		dModel: 960, cond: 128, heads: 15, attnEvery: 6,
		layers: map[string]int{BackboneMamba: 9, BackboneHybrid: 9, BackboneTransformer: 12},
		mamba:  defaultMamba(),
	},
	"1.3b": {
		dModel: 2048, cond: 128, heads: 32, attnEvery: 6,
		layers: map[string]int{BackboneMamba: 15, BackboneHybrid: 15, BackboneTransformer: 20},
		mamba:  defaultMamba(),
	},
}

func defaultMamba() MambaConfig {
	return MambaConfig{DState: 128, DConv: 4, Expand: 2, HeadDim: 64, NGroups: 1, ChunkSize: 256}
}

// Preset returns the config of a named preset for a backbone.
func Preset(name, backbone string) (*Config, error) {
	p, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown preset %q (want tiny, 240m or 1.3b)", name)
	}
	n, ok := p.layers[backbone]
	if !ok {
		return nil, fmt.Errorf("unknown backbone %q (want mamba, hybrid or transformer)", backbone)
	}
	c := &Config{
		Format: FormatV1, Backbone: backbone, VocabSize: DefaultVocab,
		MaskTokenID: DefaultMaskID, EOSTokenID: GPT2EOS, Tokenizer: "gpt2",
		DModel: p.dModel, NLayers: n, CondDim: p.cond, TimeConditioning: true,
		MLPRatioMamba: 2, MLPRatioAttention: 4, TieEmbeddings: p.tied, NormEps: 1e-5,
		MaxSeqLen: 65536, Mamba: p.mamba,
		Attention: AttentionConfig{NHeads: p.heads, RopeTheta: 10000},
		Noise:     NoiseConfig{Schedule: "loglinear", Eps: 1e-3},
		Name:      fmt.Sprintf("%s-%s (random init)", backbone, name),
	}
	if backbone == BackboneHybrid {
		c.AttnEvery = p.attnEvery
	}
	return c, c.Validate()
}
