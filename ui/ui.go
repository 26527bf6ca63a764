// Package ui is diffuapriel's playground: a Bubble Tea program that
// animates the reverse diffusion step by step, with live controls, a
// timeline to scrub, an inspector, steering and side-by-side comparison.
// It drives the engine through engine.Backend and engine.Run only, so it
// does not care whether the backend is the CPU or a GPU. Runs can be saved
// as traces and replayed (Replay) without a model, and the screen can be
// recorded as an asciicast through a record.Tap.
package ui

import (
	"errors"
	"fmt"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"diffuapriel/atomicfile"
	"diffuapriel/engine"
	"diffuapriel/record"
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
	Record     string // record the screen to this asciicast file from the start
	Trace      string // write the run on screen to this trace file on quit
}

// Run opens the playground on the terminal and returns when the user quits.
// With Trace set, the run on screen at quit is saved there; with Record,
// the screen is recorded from the start. Both files are checked (new name,
// writable directory) before the screen opens.
func Run(o Options) error {
	cfg, err := configure(o)
	if err != nil {
		return err
	}
	if err := errors.Join(checkNewFile("--record", o.Record), checkNewFile("--trace", o.Trace)); err != nil {
		return err
	}
	cfg.recordPath = o.Record
	var trace *atomicfile.File
	if o.Trace != "" {
		if trace, err = atomicfile.Create(o.Trace, false); err != nil {
			return fmt.Errorf("--trace: %v", err)
		}
		defer trace.Abort()
	}
	return runProgram(cfg, trace)
}

// runProgram runs the playground with its output through a record.Tap, so
// the screen can be recorded at any time; a recording still running at
// quit is saved, and so is the trace when one was asked for.
func runProgram(cfg appConfig, trace *atomicfile.File) error {
	if cfg.mono {
		// NO_COLOR asks for no colour, not for no emphasis: draw with
		// attributes only (termenv's ASCII profile would drop those too).
		lipgloss.SetColorProfile(termenv.ANSI)
	}
	a := newApp(cfg)
	defer a.shutdown()
	var prog *tea.Program
	tap := record.NewTap(os.Stdout, func(err error) {
		// Called from the renderer's write; Send must not block it.
		go prog.Send(recordFailedMsg{err})
	})
	defer tap.Close()
	a.rec = tap
	prog = tea.NewProgram(a, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithOutput(tap))
	if _, err := prog.Run(); err != nil {
		return err
	}
	var errs []error
	if _, on := tap.Recording(); on {
		if _, err := tap.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if trace != nil {
		err := a.writeTrace(trace)
		if err == nil {
			err = trace.Commit()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--trace %s: %v", trace.Name(), err))
		}
	}
	return errors.Join(errs...)
}

func noColor() bool { return termenv.EnvNoColor() }

// configure checks the options and resolves models, theme and tokenizer.
func configure(o Options) (appConfig, error) {
	cfg := appConfig{prompt: o.Prompt, length: o.Length, opts: o.Sampling, mono: noColor()}
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
	var err error
	if cfg.theme, err = resolveTheme(o.Theme); err != nil {
		return cfg, err
	}
	tok, err := tokenizer.GPT2()
	if err != nil {
		return cfg, err
	}
	cfg.tok = tok
	return cfg, nil
}
