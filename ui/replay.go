package ui

import (
	"fmt"
	"os"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"diffuapriel/atomicfile"
	"diffuapriel/engine"
	"diffuapriel/themes"
	"diffuapriel/tokenizer"
)

// ReplayOptions configure the playground on a recorded trace.
type ReplayOptions struct {
	Path   string // the trace (engine.ReadTrace's JSON Lines)
	Theme  string // a theme name; "" uses the config file or the default
	Record string // record the screen to this asciicast file from the start
}

// Replay opens a trace in the playground: the same screen, playback,
// scrubbing, heatmap and inspector, from the recorded events alone. No
// model is loaded and no backend opened; the tokenizer draws the text.
// A missing or corrupt trace is an error before the screen changes.
func Replay(o ReplayOptions) error {
	tr, err := engine.ReadTraceFile(o.Path)
	if err != nil {
		return err
	}
	cfg := replayConfig(tr, o.Path)
	cfg.recordPath, cfg.mono = o.Record, noColor()
	if cfg.theme, err = resolveTheme(o.Theme); err != nil {
		return err
	}
	if err := checkNewFile("--record", o.Record); err != nil {
		return err
	}
	if cfg.tok, err = tokenizer.GPT2(); err != nil {
		return err
	}
	return runProgram(cfg, nil)
}

// replayConfig is the playground's configuration for a trace: its panes'
// models, prompt and options, and no backend.
func replayConfig(tr *engine.Trace, path string) appConfig {
	cfg := appConfig{replay: tr, replayName: path, compare: len(tr.Panes) > 1,
		prompt: tr.Header.Prompt, length: tr.Header.Length, opts: tr.Header.Options}
	for _, info := range tr.Header.Panes {
		cfg.models = append(cfg.models, source{name: info.Model, path: info.Path})
	}
	return cfg
}

// replayPanes are a trace's panes: complete histories with the model
// information the trace recorded, and no worker behind them.
func replayPanes(tr *engine.Trace) []*pane {
	var panes []*pane
	for i, info := range tr.Header.Panes {
		panes = append(panes, &pane{src: source{name: info.Model, path: info.Path}, cfg: info.Config,
			params: info.Params, backend: info.Backend, device: info.Device, hist: tr.Panes[i], recorded: true})
	}
	return panes
}

// replayDisabled is the status line for a key that needs the engine,
// or "" when the key works in a replay.
func replayDisabled(msg tea.KeyMsg, km keyMap) string {
	var what string
	switch {
	case key.Matches(msg, km.Restart), key.Matches(msg, km.Reroll):
		what = "re-running"
	case key.Matches(msg, km.Controls):
		what = "changing the controls"
	case key.Matches(msg, km.NextModel):
		what = "switching models"
	case key.Matches(msg, km.Edit):
		what = "editing the prompt"
	case key.Matches(msg, km.Pin), key.Matches(msg, km.Remask):
		what = "steering"
	case key.Matches(msg, km.SaveTrace):
		return "replay: this already is a saved trace"
	default:
		return ""
	}
	return needsModel(what)
}

func needsModel(what string) string {
	return "replay: " + what + " needs the model; this is a recorded run"
}

// resolveTheme applies --theme, then the config file, then the default.
func resolveTheme(name string) (themes.Theme, error) {
	path, err := themes.ConfigPath()
	if err != nil {
		path = "" // no config directory: flag or default only
	}
	return themes.Resolve(name, path)
}

// checkNewFile refuses, before the screen opens, an output file that
// exists or cannot be created (flag names the option).
func checkNewFile(flag, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s %s: the file already exists (choose a new name; the playground never overwrites)", flag, path)
	}
	// A trial file in the destination's directory: a missing, read-only
	// or unwritable directory is reported now rather than after the run.
	f, err := atomicfile.Create(path, false)
	if err != nil {
		return fmt.Errorf("%s: %v", flag, err)
	}
	f.Abort()
	return nil
}
