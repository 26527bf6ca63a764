package models

import (
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"diffuapriel/atomicfile"
)

// RandomInit returns freshly initialised F32 weights for cfg, identical for
// the same (cfg, seed) on every machine and at any GOMAXPROCS. The scales keep
// activations O(1) and the logits spread (std about 2) but far from one-hot,
// and every bias, norm and modulation weight is non-trivial so that tests
// comparing engines exercise every term. cfg must be valid (Validate);
// RandomInit panics otherwise, as that is a programming error.
//
// It holds the whole model in memory (4 bytes per parameter); for large
// presets WriteRandomInit streams to disk instead.
func RandomInit(cfg *Config, seed uint64) *Weights {
	if err := cfg.Validate(); err != nil {
		panic("models.RandomInit: " + err.Error())
	}
	byName := map[string]*Tensor{}
	for _, s := range TensorSpecs(cfg) {
		byName[s.Name] = NewTensor(s.Name, s.Shape, initValues(cfg, s, seed), F32)
	}
	w, err := Bind(cfg, func(name string) (*Tensor, bool) {
		t, ok := byName[name]
		return t, ok
	})
	if err != nil {
		panic("models.RandomInit: " + err.Error())
	}
	return w
}

// WriteRandomInit writes the checkpoint that Save(path, RandomInit(cfg, seed),
// dtype, force) would, byte for byte, but generates one tensor at a time, so
// memory stays near the size of the largest tensor (a few hundred MB for the
// 1.3b preset instead of 5 GB).
func WriteRandomInit(path string, cfg *Config, seed uint64, dtype DType, force bool) error {
	if dtype.Size() == 0 {
		return fmt.Errorf("save %s: unknown dtype %q (want F32, F16 or BF16)", path, dtype)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	meta, err := fileMetadata(cfg)
	if err != nil {
		return err
	}
	specs := TensorSpecs(cfg)
	return atomicfile.WriteFile(path, force, func(out io.Writer) error {
		return writeSafetensors(out, meta, specs, dtype, func(i int) ([]byte, error) {
			s := specs[i]
			// Round through F32 exactly as RandomInit + Save do.
			return finiteBytes(s.Name, encodeFloat32s(initValues(cfg, s, seed), dtype), dtype)
		})
	})
}

// initRule is how one tensor's values are drawn.
type initRule struct {
	kind      initKind
	mean, std float64
}

type initKind int

const (
	initNormal initKind = iota // mean + std * N(0, 1)
	initALog                   // log(U[1, 16]): A = -exp(A_log) spans 1..16 (mamba_ssm's range)
	initDtBias                 // softplus^-1(dt), dt log-uniform in [1e-3, 1e-1] (mamba_ssm)
)

// biasStd is the spread of every bias: small, but large enough to matter.
const biasStd = 0.1

// ruleFor picks the initialisation of a tensor from its name and shape.
func ruleFor(c *Config, s TensorSpec) initRule {
	name := s.Name
	fanIn := float64(s.Shape[len(s.Shape)-1])
	// Residual-branch outputs are scaled down by sqrt(2 * layers) (as GPT-2)
	// so the residual stream stays O(1) however deep the model.
	residual := 1 / math.Sqrt(2*float64(c.NLayers))
	switch {
	case strings.HasSuffix(name, ".A_log"):
		return initRule{kind: initALog}
	case strings.HasSuffix(name, ".dt_bias"):
		return initRule{kind: initDtBias}
	case strings.HasSuffix(name, ".D"), strings.HasSuffix(name, "norm.weight"),
		strings.HasSuffix(name, "norm1.weight"), strings.HasSuffix(name, "norm2.weight"):
		return initRule{kind: initNormal, mean: 1, std: 0.1}
	case strings.HasSuffix(name, ".bias"):
		return initRule{kind: initNormal, std: biasStd}
	case strings.HasSuffix(name, "conv1d.weight"):
		return initRule{kind: initNormal, std: 1 / math.Sqrt(float64(c.Mamba.DConv))}
	case strings.HasSuffix(name, "adaLN_modulation.weight"):
		// Small, so shifts, scales and gates vary with sigma without swamping the bias.
		return initRule{kind: initNormal, std: 0.5 / math.Sqrt(fanIn)}
	case name == "vocab_embed.weight", name == "final.linear.weight":
		// As the (possibly tied) head this gives logits of std about 2.
		return initRule{kind: initNormal, std: 2 / math.Sqrt(float64(c.DModel))}
	case strings.HasSuffix(name, "out_proj.weight"), strings.HasSuffix(name, "fc2.weight"):
		return initRule{kind: initNormal, std: residual / math.Sqrt(fanIn)}
	}
	return initRule{kind: initNormal, std: 1 / math.Sqrt(fanIn)}
}

// initChunk is the number of values drawn from one generator; each chunk is
// seeded from (seed, tensor name, chunk index), so the result does not depend
// on how chunks are spread over goroutines.
const initChunk = 1 << 16

// initValues draws one tensor's values in parallel chunks.
func initValues(c *Config, s TensorSpec, seed uint64) []float32 {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	out := make([]float32, n)
	rule := ruleFor(c, s)
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	stream := h.Sum64()
	chunks := (n + initChunk - 1) / initChunk
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(chunks, 1)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= chunks {
					return
				}
				rng := rand.New(rand.NewPCG(seed, stream^(uint64(k)+1)*0x9e3779b97f4a7c15))
				rule.fill(out[k*initChunk:min((k+1)*initChunk, n)], rng)
			}
		})
	}
	wg.Wait()
	return out
}

func (r initRule) fill(dst []float32, rng *rand.Rand) {
	switch r.kind {
	case initALog:
		for i := range dst {
			dst[i] = float32(math.Log(1 + 15*rng.Float64()))
		}
	case initDtBias:
		lo, hi := math.Log(1e-3), math.Log(1e-1)
		for i := range dst {
			dt := math.Exp(lo + (hi-lo)*rng.Float64())
			dst[i] = float32(dt + math.Log(-math.Expm1(-dt))) // softplus^-1
		}
	default:
		for i := range dst {
			dst[i] = float32(r.mean + r.std*rng.NormFloat64())
		}
	}
}
