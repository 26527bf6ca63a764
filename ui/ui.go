// Package ui is diffuapriel's playground: a Bubble Tea program that
// animates the reverse diffusion step by step, with live controls, a
// timeline to scrub, an inspector, steering and side-by-side comparison.
// It drives the engine through engine.Backend and engine.Run only, so it
// does not care whether the backend is the CPU or a GPU.
package ui

import (
	"errors"
	"fmt"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"diffuapriel/engine"
	"diffuapriel/themes"
	"diffuapriel/tokenizer"
)

// Options configure the playground.
type Options struct {
	ModelPaths []string // --model (repeatable); 2 or 3 paths open compare mode
	Compare    bool     // compare the built-in backbones side by side
	Backend    string   // auto, cpu or gpu
	Prompt     string
	Length     int // masks appended after the prompt (0: only the prompt's [MASK:n] spans)
	Sampling   engine.Options
	Theme      string // a theme name; "" uses the config file or the default
}

// Run opens the playground on the terminal and returns when the user quits.
func Run(o Options) error {
	cfg, err := configure(o)
	if err != nil {
		return err
	}
	if cfg.mono {
		// NO_COLOR asks for no colour, not for no emphasis: draw with
		// attributes only (termenv's ASCII profile would drop those too).
		lipgloss.SetColorProfile(termenv.ANSI)
	}
	a := newApp(cfg)
	defer a.shutdown()
	_, err = tea.NewProgram(a, tea.WithAltScreen(), tea.WithMouseCellMotion()).Run()
	return err
}

// configure checks the options and resolves models, theme and tokenizer.
func configure(o Options) (appConfig, error) {
	cfg := appConfig{prompt: o.Prompt, length: o.Length, opts: o.Sampling, mono: termenv.EnvNoColor()}
	if cfg.length < 0 {
		return cfg, fmt.Errorf("--length must not be negative, got %d", cfg.length)
	}
	if cfg.opts == (engine.Options{}) {
		cfg.opts = engine.DefaultOptions()
	}
	if err := cfg.opts.Validate(); err != nil {
		return cfg, err
	}
	if cfg.opts.TopN == 0 {
		cfg.opts.TopN = 5 // the inspector shows five candidates
	}
	for _, p := range o.ModelPaths {
		// Checked before the screen changes, so a typo is a one-line error
		// in the shell rather than a message inside the playground.
		if _, err := os.Stat(p); err != nil {
			return cfg, fmt.Errorf("--model %s: %v", p, errors.Unwrap(err))
		}
	}
	switch {
	case len(o.ModelPaths) > 3:
		return cfg, fmt.Errorf("--model given %d times; the playground shows at most 3 models side by side", len(o.ModelPaths))
	case len(o.ModelPaths) >= 2:
		cfg.compare = true
		for _, p := range o.ModelPaths {
			cfg.models = append(cfg.models, pathSource(p))
		}
	case o.Compare:
		cfg.compare = true
		for _, p := range o.ModelPaths {
			cfg.models = append(cfg.models, pathSource(p))
		}
		for _, s := range catalogSources() {
			if len(cfg.models) < 3 {
				cfg.models = append(cfg.models, s)
			}
		}
	default:
		for _, p := range o.ModelPaths {
			cfg.models = append(cfg.models, pathSource(p))
		}
		cfg.models = append(cfg.models, catalogSources()...)
	}
	if len(cfg.models) == 0 {
		return cfg, fmt.Errorf("no model to open: the catalog is empty and no --model was given")
	}
	kind := o.Backend
	if kind == "" {
		kind = "auto"
	}
	if kind != "auto" && kind != "cpu" && kind != "gpu" {
		return cfg, fmt.Errorf("unknown --backend %q (want auto, cpu or gpu)", kind)
	}
	cfg.newBackend = func() (engine.Backend, string, error) { return engine.Open(kind) }
	path, err := themes.ConfigPath()
	if err != nil {
		path = "" // no config directory: flag or default only
	}
	if cfg.theme, err = themes.Resolve(o.Theme, path); err != nil {
		return cfg, err
	}
	tok, err := tokenizer.GPT2()
	if err != nil {
		return cfg, err
	}
	cfg.tok = tok
	return cfg, nil
}
