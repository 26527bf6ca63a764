package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"diffuapriel/engine"
	"diffuapriel/models"
	"diffuapriel/models/demo"
)

// generation holds the flags shared by the playground and generate.
type generation struct {
	models  pathList
	backend string
	prompt  string
	length  optionalInt
	opts    engine.Options
}

// pathList is a repeatable --model flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

func (g *generation) register(fs *flag.FlagSet, modelHelp string) {
	g.opts = engine.DefaultOptions()
	fs.Var(&g.models, "model", modelHelp)
	fs.StringVar(&g.backend, "backend", "auto", "compute backend: auto, cpu or gpu")
	fs.StringVar(&g.prompt, "prompt", "", "prompt text; [MASK:n] marks an infill span of n tokens")
	fs.Var(&g.length, "length", "tokens to generate after the prompt (default 128, or 0 when the prompt has [MASK:n] spans)")
	fs.IntVar(&g.opts.Steps, "steps", g.opts.Steps, "denoising steps")
	fs.StringVar(&g.opts.Schedule, "schedule", g.opts.Schedule, "noise schedule: "+strings.Join(engine.ScheduleNames, "|"))
	fs.StringVar(&g.opts.Sampler, "sampler", g.opts.Sampler, "sampler: "+strings.Join(engine.SamplerNames, "|"))
	fs.Float64Var(&g.opts.Temperature, "temperature", g.opts.Temperature, "sampling temperature (0 = greedy)")
	fs.IntVar(&g.opts.TopK, "top-k", g.opts.TopK, "keep the k most likely tokens (0 = all)")
	fs.Float64Var(&g.opts.TopP, "top-p", g.opts.TopP, "nucleus sampling mass (1 = all)")
	fs.Float64Var(&g.opts.Threshold, "threshold", g.opts.Threshold, "confidence threshold tau of the threshold sampler")
	fs.IntVar(&g.opts.BlockLength, "block-length", g.opts.BlockLength, "semi-autoregressive block length (0 = one block)")
	fs.Uint64Var(&g.opts.Seed, "seed", g.opts.Seed, "random seed (same seed, same generation)")
}

// optionalInt is an int flag that knows whether it was given, so its
// default can depend on other flags.
type optionalInt struct {
	v   int
	set bool
}

func (o *optionalInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.Itoa(o.v)
}

func (o *optionalInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return fmt.Errorf("want a whole number >= 0")
	}
	o.v, o.set = v, true
	return nil
}

// resolvedLength applies the --length default, which depends on the prompt.
func (g *generation) resolvedLength() int {
	if g.length.set {
		return g.length.v
	}
	if strings.Contains(g.prompt, "[MASK") {
		return 0
	}
	return 128
}

// validate checks the flags that do not need a model.
func (g *generation) validate() error {
	switch g.backend {
	case "auto", "cpu", "gpu":
	default:
		return usageError{fmt.Sprintf("--backend %q: want auto, cpu or gpu", g.backend)}
	}
	if _, err := engine.NewSchedule(g.opts.Schedule, models.NoiseConfig{}); err != nil {
		return usageError{"--schedule: " + err.Error()}
	}
	if err := g.opts.Validate(); err != nil {
		return usageError{"invalid flag: " + err.Error()}
	}
	return nil
}

// openCheckpoint loads a checkpoint path, or the default built-in model.
func openCheckpoint(path string) (*models.Checkpoint, string, error) {
	if path == "" {
		e := demo.Catalog()[0]
		ck, err := e.Open()
		return ck, e.Name, err
	}
	ck, err := models.Load(path)
	if err != nil {
		return nil, "", err
	}
	name := ck.Config.Name
	if name == "" {
		name = path
	}
	return ck, name, nil
}

// openBackend chooses the backend and uploads the weights, telling the user
// on stderr when auto falls back to the CPU.
func openBackend(kind string, w *models.Weights, stderr io.Writer) (engine.Backend, error) {
	b, notice, err := engine.Open(kind)
	if err != nil {
		return nil, err
	}
	if notice != "" {
		fmt.Fprintln(stderr, "diffuapriel: "+notice)
	}
	if err := b.Load(w, nil); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}
