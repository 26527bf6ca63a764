package ui

import (
	"bytes"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"diffuapriel/engine"
)

// Golden tests run the real Bubble Tea program (teatest) on the tiny
// random-init CPU models with a fixed seed, size and colour profile
// (ASCII: attributes only), drive it with keys, and compare the final
// screen, with wall-clock timings normalised, to testdata/<test>.golden.
// Regenerate with: go test ./ui -run Golden -update

type program struct {
	t  *testing.T
	tm *teatest.TestModel
}

func startProgram(t *testing.T, cfg appConfig, width, height int) program {
	t.Helper()
	a := newApp(cfg)
	t.Cleanup(a.shutdown)
	tm := teatest.NewTestModel(t, a, teatest.WithInitialTermSize(width, height))
	return program{t: t, tm: tm}
}

// waitFor waits until the program has drawn text.
func (p program) waitFor(text string) {
	p.t.Helper()
	teatest.WaitFor(p.t, p.tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(text)) },
		teatest.WithDuration(60*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

func (p program) keys(names ...string) {
	for _, n := range names {
		p.tm.Send(keyMsg(n))
	}
}

// finish quits the program and compares its last screen with the golden.
func (p program) finish() {
	p.t.Helper()
	if err := p.tm.Quit(); err != nil {
		p.t.Fatal(err)
	}
	m := p.tm.FinalModel(p.t, teatest.WithFinalTimeout(10*time.Second))
	golden.RequireEqualEscape(p.t, []byte(normalize(m.(*app).View())), true)
}

// finished starts a single-pane program and waits for the whole
// generation to have been played.
func finished(t *testing.T, cfg appConfig, width, height int) program {
	p := startProgram(t, cfg, width, height)
	p.waitFor("masks 0")
	p.keys("G")
	return p
}

// TestGoldenKeys plays the default single-pane run to the end on an 80x24
// terminal, presses the keys and compares the screen with
// testdata/TestGoldenKeys/<name>.golden.
func TestGoldenKeys(t *testing.T) {
	for _, c := range []struct {
		name string
		keys []string
	}{
		{"PlaygroundFinished", nil},
		{"PlaygroundMidway", []string{"g", ".", ".", "."}},
		{"Inspector", []string{"g", ".", ".", ".", "i", "right", "right"}},
		{"HeatOff", []string{"c"}},
		{"Help", []string{"?"}},
		{"Editor", []string{"e"}},
		{"ControlsFocused", []string{"tab", "down", "down"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := finished(t, testConfig(t), 80, 24)
			p.keys(c.keys...)
			p.finish()
		})
	}
}

func TestGoldenInfill(t *testing.T) {
	cfg := testConfig(t)
	cfg.prompt = "Once upon [MASK:4] time,\n  there"
	cfg.length = 8
	p := finished(t, cfg, 80, 24)
	p.finish()
}

func TestGoldenCompare(t *testing.T) {
	p := startProgram(t, compareConfig(t), 120, 30)
	p.waitFor("masks 0")
	p.keys("G", ",", ",")
	p.finish()
}

func TestGoldenSmallestTerminal(t *testing.T) {
	p := finished(t, testConfig(t), 60, 20)
	p.keys("i")
	p.finish()
}

func TestGoldenTooSmall(t *testing.T) {
	p := startProgram(t, testConfig(t), 50, 15)
	p.waitFor("Enlarge")
	p.finish()
}

func TestGoldenResized(t *testing.T) {
	p := finished(t, testConfig(t), 120, 30)
	p.tm.Send(tea.WindowSizeMsg{Width: 64, Height: 22})
	p.finish()
}

func TestGoldenLoadError(t *testing.T) {
	cfg := testConfig(t)
	cfg.models = []source{pathSource("/nonexistent/model.safetensors")}
	p := startProgram(t, cfg, 80, 24)
	p.waitFor("cannot load")
	p.finish()
}

func TestGoldenHelpScrolledOnSmallestTerminal(t *testing.T) {
	p := finished(t, testConfig(t), 60, 20)
	p.keys("?", "down", "down", "down")
	p.finish()
}

// recordedRun generates the test run with the live playground and returns
// it as a trace read back from its JSON Lines, as `replay` would load it.
func recordedRun(t *testing.T, cfg appConfig) *engine.Trace {
	t.Helper()
	h := newHarness(t, cfg, 100, 30)
	h.done()
	var buf bytes.Buffer
	if err := h.a.writeTrace(&buf); err != nil {
		t.Fatal(err)
	}
	tr, err := engine.ReadTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestGoldenReplay(t *testing.T) {
	live := testConfig(t)
	cfg := replayConfig(recordedRun(t, live), "run.jsonl")
	cfg.tok, cfg.theme, cfg.mono = live.tok, live.theme, live.mono
	p := startProgram(t, cfg, 80, 24)
	p.waitFor("masks 0")
	p.keys("g", ".", ".", ".", "i", "right", "R")
	p.finish()
}
