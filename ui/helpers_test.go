package ui

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"diffuapriel/engine"
	"diffuapriel/models"
	"diffuapriel/themes"
	"diffuapriel/tokenizer"
)

func TestMain(m *testing.M) {
	// Screens are compared in monochrome mode (what NO_COLOR gives):
	// attributes (bold, faint, underline, reverse) mark every state, and
	// the goldens do not depend on a theme's colours.
	lipgloss.SetColorProfile(termenv.ANSI)
	lipgloss.SetHasDarkBackground(true)
	os.Exit(m.Run())
}

// testBackend is the real CPU backend with the machine-dependent labels
// fixed, so screens do not depend on the test machine's processor or RAM.
type testBackend struct{ engine.Backend }

func (testBackend) Device() string { return "test cpu" }
func (b testBackend) Memory() (uint64, uint64) {
	used, _ := b.Backend.Memory()
	return used, 8 << 30
}

func cpuFactory() (engine.Backend, string, error) {
	return testBackend{engine.NewCPU(1)}, "", nil
}

// tinySources are freshly initialised tiny models of the three backbones:
// real models, fast on any CPU, and independent of the shipped demo
// checkpoints, so screens stay fixed when those are retrained.
func tinySources(t testing.TB) []source {
	var out []source
	for _, bb := range []string{models.BackboneMamba, models.BackboneHybrid, models.BackboneTransformer} {
		cfg := tinyPreset(t, bb)
		out = append(out, source{name: cfg.Name, open: func() (*models.Checkpoint, error) {
			return &models.Checkpoint{Config: cfg, Weights: models.RandomInit(cfg, 1)}, nil
		}})
	}
	return out
}

// testConfig is a small, fast playground on the tiny random-init models:
// a short prompt, 12 masks, 8 steps, seed 1.
func testConfig(t testing.TB) appConfig {
	t.Helper()
	tok, err := tokenizer.GPT2()
	if err != nil {
		t.Fatal(err)
	}
	theme, err := themes.Get("dark")
	if err != nil {
		t.Fatal(err)
	}
	opts := engine.DefaultOptions()
	// The goldens pin their sampling settings rather than follow the defaults.
	opts.Steps, opts.Sampler, opts.TopP, opts.Temperature = 8, "confidence", 1, 1
	return appConfig{models: tinySources(t), newBackend: cpuFactory, tok: tok, theme: theme, mono: true,
		prompt: "The quick brown fox", length: 12, opts: opts}
}

func compareConfig(t testing.TB) appConfig {
	cfg := testConfig(t)
	cfg.compare = true
	return cfg
}

// harness runs an app's commands the way Bubble Tea would, but hands every
// resulting message back to the test goroutine, so a test decides when
// messages are applied and can look at the model in between. Playback
// ticks are held back: tests advance the animation explicitly.
type harness struct {
	t    testing.TB
	a    *app
	msgs chan tea.Msg
	quit bool
}

func newHarness(t testing.TB, cfg appConfig, width, height int) *harness {
	t.Helper()
	h := &harness{t: t, a: newApp(cfg), msgs: make(chan tea.Msg, 1024)}
	t.Cleanup(h.a.shutdown)
	h.apply(tea.WindowSizeMsg{Width: width, Height: height})
	h.run(h.a.Init())
	return h
}

// run executes a command in the background and queues its message.
func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if msg != nil {
			h.msgs <- msg
		}
	}()
}

// apply delivers one message to the model on the test goroutine.
func (h *harness) apply(msg tea.Msg) {
	switch msg := msg.(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
		return
	case tea.QuitMsg:
		h.quit = true
		return
	case tickMsg:
		return
	}
	_, cmd := h.a.Update(msg)
	h.run(cmd)
}

// until applies messages until cond holds, failing after a timeout.
func (h *harness) until(what string, cond func(a *app) bool) {
	h.t.Helper()
	deadline := time.After(60 * time.Second)
	for !cond(h.a) {
		select {
		case msg := <-h.msgs:
			h.apply(msg)
		case <-time.After(10 * time.Millisecond): // cond may depend on other goroutines
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// settle applies whatever arrives within a short quiet period.
func (h *harness) settle() {
	for {
		select {
		case msg := <-h.msgs:
			h.apply(msg)
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

// done waits until every pane has finished its generation.
func (h *harness) done() {
	h.t.Helper()
	h.until("the generation to finish", func(a *app) bool {
		for _, p := range a.panes {
			if p.loadErr == nil && (p.hist == nil || !p.finished()) {
				return false
			}
		}
		return true
	})
}

// press sends a key by name ("space", "left", "ctrl+s", "x", ...).
func (h *harness) press(names ...string) {
	for _, n := range names {
		h.apply(keyMsg(n))
		h.settle()
	}
}

func keyMsg(name string) tea.KeyMsg {
	special := map[string]tea.KeyType{
		"space": tea.KeySpace, "left": tea.KeyLeft, "right": tea.KeyRight, "up": tea.KeyUp, "down": tea.KeyDown,
		"home": tea.KeyHome, "end": tea.KeyEnd, "tab": tea.KeyTab, "esc": tea.KeyEsc, "enter": tea.KeyEnter,
		"pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "ctrl+s": tea.KeyCtrlS, "ctrl+c": tea.KeyCtrlC,
	}
	if t, ok := special[name]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(name)}
}

var (
	millisRe   = regexp.MustCompile(`([ │])\d+(\.\d+)?ms`)
	sparkRe    = regexp.MustCompile("[▁▂▃▄▅▆▇█]+(\x1b\\[0m)? #ms")
	rateRe     = regexp.MustCompile(`#ms/step · \d+ tok/s *`)
	trailingRe = regexp.MustCompile(`(?m) +$`)
)

// normalize replaces what depends on wall-clock time (step times, the
// sparkline, throughput) so a screen can be compared with a golden file.
func normalize(view string) string {
	view = millisRe.ReplaceAllString(view, "$1#ms")
	view = sparkRe.ReplaceAllStringFunc(view, func(s string) string {
		bars := strings.TrimRight(s, "\x1b[0m #s")
		return strings.Repeat("▄", len([]rune(bars))) + strings.TrimPrefix(s, bars)
	})
	view = rateRe.ReplaceAllString(view, "#ms/step · # tok/s ")
	return trailingRe.ReplaceAllString(view, "")
}

// plain strips styling from a view for text assertions.
func plain(view string) string { return stripANSI.ReplaceAllString(view, "") }

var stripANSI = regexp.MustCompile("\x1b\\[[0-9;]*m")

// tinyPreset is a model config for tests that need one without loading.
func tinyPreset(t testing.TB, backbone string) *models.Config {
	cfg, err := models.Preset("tiny", backbone)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func tearesize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }

func mouseClick(x, y int) tea.MouseMsg {
	return tea.MouseMsg{X: x, Y: y, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress}
}
