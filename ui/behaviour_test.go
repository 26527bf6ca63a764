package ui

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"diffuapriel/engine"
	"diffuapriel/models"
)

// escapes are terminal control sequences a model's tokens could spell.
var escapes = []string{"\x1b[2J", "\x1b]0;", "\x07", "\x1b[31m", "\x9b"}

func assertNoRawEscapes(t *testing.T, view string) {
	t.Helper()
	for _, e := range escapes {
		if strings.Contains(view, e) {
			t.Fatalf("view contains the raw sequence %q", e)
		}
	}
	// What remains may only be the styling the UI itself writes (SGR).
	rest := stripANSI.ReplaceAllString(view, "")
	if strings.ContainsAny(rest, "\x1b\x07\u009b") {
		t.Fatalf("view contains a control character outside styling: %q", rest)
	}
}

func TestModelTextIsSanitised(t *testing.T) {
	cfg := testConfig(t)
	cfg.prompt = "Hi \x1b[2J\x1b]0;pwned\x07 there \x1b[31mred"
	h := newHarness(t, cfg, 100, 30)
	h.done()
	h.press("G")
	p := h.a.panes[0]
	assertNoRawEscapes(t, h.a.View())
	if !strings.Contains(plain(h.a.View()), "pwned") {
		t.Fatal("the printable part of the prompt vanished")
	}
	// A token that is itself the ESC byte, revealed by a step and offered
	// as a candidate, is drawn safely on the canvas and in the inspector.
	esc := cfg.tok.Encode("\x1b")
	if len(esc) != 1 {
		t.Fatalf("ESC encodes to %d tokens", len(esc))
	}
	n := p.events()
	pos := len(p.hist.Initial.Tokens) - 1
	if err := p.hist.Steer(n, pos, p.hist.Mask); err != nil {
		t.Fatal(err)
	}
	p.gen++ // the app's own run of this steer is not wanted here
	ev := engine.StepEvent{Index: n, Step: 8, Steps: 8, Revealed: []engine.Reveal{{Pos: pos, Token: esc[0], Prob: 0.5,
		Top: []engine.Candidate{{Token: esc[0], Prob: 0.5}, {Token: cfg.tok.Encode("\x07")[0], Prob: 0.2}}}}, ModelCalled: true}
	if err := p.hist.Append(ev); err != nil {
		t.Fatal(err)
	}
	h.press("G", "i")
	h.a.insp.pos = pos
	view := h.a.View()
	assertNoRawEscapes(t, view)
	if !strings.Contains(plain(view), fmt.Sprintf("(id %d)", esc[0])) {
		t.Fatalf("the inspector does not describe the ESC token: %q", plain(view))
	}
}

// blockingBackend holds every forward pass until the test releases it, so
// a test can act while the worker is provably inside a step.
type blockingBackend struct {
	engine.Backend
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int32
}

func (b *blockingBackend) Sample(tokens []int32, sigma float64, q *engine.HeadQuery) ([]engine.PositionStats, error) {
	b.calls.Add(1)
	b.entered <- struct{}{}
	<-b.release
	return b.Backend.Sample(tokens, sigma, q)
}

func TestKeysAnswerWhileAStepRuns(t *testing.T) {
	bb := &blockingBackend{Backend: engine.NewCPU(1), entered: make(chan struct{}, 64), release: make(chan struct{})}
	cfg := testConfig(t)
	cfg.newBackend = func() (engine.Backend, string, error) { return testBackend{bb}, "", nil }
	h := newHarness(t, cfg, 80, 24)
	t.Cleanup(func() { close(bb.release) })
	h.until("the worker to enter its first forward pass", func(*app) bool { return bb.calls.Load() > 0 })
	<-bb.entered
	p := h.a.panes[0]
	gen := p.gen
	// The UI keeps answering: these keys act although the step has not ended.
	h.press("space")
	if h.a.play.playing {
		t.Fatal("space was not handled during a step")
	}
	h.press("?", "esc", "tab", "down", "right")
	if h.a.showHelp || h.a.controls.s.opts.Steps != 12 {
		t.Fatalf("keys were not handled during a step: help %v steps %d", h.a.showHelp, h.a.controls.s.opts.Steps)
	}
	if p.gen == gen {
		t.Fatal("a changed control did not supersede the running generation")
	}
	// Let the blocked step finish: its event belongs to the old generation
	// and is dropped; the new generation runs with 12 steps.
	bb.release <- struct{}{}
	go func() {
		for range bb.entered {
			bb.release <- struct{}{}
		}
	}()
	h.done()
	for _, ev := range p.hist.Events {
		if ev.Steps != 12 {
			t.Fatalf("an event of the superseded 8-step run was kept: %+v", ev.Step)
		}
	}
}

func TestLoadErrorIsShownInThePane(t *testing.T) {
	cfg := testConfig(t)
	cfg.models = []source{pathSource("/nonexistent/model.safetensors")}
	h := newHarness(t, cfg, 80, 24)
	h.until("the load to fail", func(a *app) bool { return a.panes[0].loadErr != nil })
	v := plain(h.a.View())
	if !strings.Contains(v, "cannot load") || !strings.Contains(v, "nonexistent") {
		t.Fatalf("the load error is not on screen: %q", v)
	}
}

func TestBackendErrorIsShownInThePane(t *testing.T) {
	cfg := testConfig(t)
	cfg.newBackend = func() (engine.Backend, string, error) { return nil, "", errors.New("no device here") }
	h := newHarness(t, cfg, 80, 24)
	h.until("the backend to fail", func(a *app) bool { return a.panes[0].loadErr != nil })
	if !strings.Contains(plain(h.a.View()), "no device here") {
		t.Fatal("the backend error is not on screen")
	}
}

func TestPromptTooLongForTheModelIsReported(t *testing.T) {
	cfg := testConfig(t)
	small := tinyPreset(t, models.BackboneMamba)
	small.MaxSeqLen = 8
	cfg.models = []source{{name: "short context", open: func() (*models.Checkpoint, error) {
		return &models.Checkpoint{Config: small, Weights: models.RandomInit(small, 1)}, nil
	}}}
	h := newHarness(t, cfg, 80, 24)
	h.until("the pane to report", func(a *app) bool { return a.panes[0].runErr != nil })
	if !strings.Contains(plain(h.a.View()), "context of 8") {
		t.Fatalf("the error is not on screen: %q", plain(h.a.View()))
	}
}

func TestWorkerRunsOnlyTheNewestRequest(t *testing.T) {
	cfg := testConfig(t)
	h := newHarness(t, cfg, 80, 24)
	h.done()
	p := h.a.panes[0]
	// Three restarts in a row: only the last generation's events survive.
	h.press("R", "R", "R")
	h.done()
	if p.events() == 0 || p.hist.Events[0].Index != 0 {
		t.Fatal("the last restart produced no events")
	}
	if err := func() error {
		for i, ev := range p.hist.Events {
			if ev.Index != i {
				return errors.New("events of superseded runs were mixed in")
			}
		}
		return nil
	}(); err != nil {
		t.Fatal(err)
	}
}

func TestMouse(t *testing.T) {
	h := newHarness(t, testConfig(t), 80, 24)
	h.done()
	h.press("G")
	g := h.a.geometry()
	// A click on the timeline's start scrubs to step 0, its end to the last.
	h.apply(mouseClick(g.timelineX, g.timeRow))
	if h.a.play.cursor != 0 {
		t.Fatalf("click at the timeline start: cursor %d", h.a.play.cursor)
	}
	h.apply(mouseClick(g.timelineX+g.timelineW-1, g.timeRow))
	if h.a.play.cursor != h.a.panes[0].events() {
		t.Fatalf("click at the timeline end: cursor %d", h.a.play.cursor)
	}
	// A click on the first text cell inspects position 0.
	h.apply(mouseClick(g.paneX[0]+2, g.textTop))
	if !h.a.insp.open || h.a.insp.pos != 0 {
		t.Fatalf("click on the text: inspector %v at %d", h.a.insp.open, h.a.insp.pos)
	}
	// A click on a control row focuses it.
	h.apply(mouseClick(h.a.width-5, g.controlTop+2))
	if !h.a.controls.focused || h.a.controls.row != 2 {
		t.Fatalf("click on control row 2: focused %v row %d", h.a.controls.focused, h.a.controls.row)
	}
}

// slowLoadBackend reports half its weights loaded, then waits for the test.
type slowLoadBackend struct {
	engine.Backend
	half    chan struct{}
	release chan struct{}
}

func (b *slowLoadBackend) Load(w *models.Weights, progress func(done, total int64)) error {
	progress(50, 100)
	close(b.half)
	<-b.release
	return b.Backend.Load(w, progress)
}

func TestLoadingShowsAProgressBar(t *testing.T) {
	sb := &slowLoadBackend{Backend: engine.NewCPU(1), half: make(chan struct{}), release: make(chan struct{})}
	cfg := testConfig(t)
	cfg.newBackend = func() (engine.Backend, string, error) { return testBackend{sb}, "", nil }
	h := newHarness(t, cfg, 80, 24)
	<-sb.half
	h.until("the progress to arrive", func(a *app) bool { return a.panes[0].loadDone == 50 })
	v := plain(h.a.View())
	if !strings.Contains(v, "loading mamba-tiny") || !strings.Contains(v, "50 B of 100 B") {
		t.Fatalf("no loading bar: %q", v)
	}
	close(sb.release)
	h.done()
	if strings.Contains(plain(h.a.View()), "loading") {
		t.Fatal("the loading bar stayed after the model loaded")
	}
}

// panickingBackend fails inside a forward pass the way a bug would.
type panickingBackend struct{ engine.Backend }

func (panickingBackend) Sample([]int32, float64, *engine.HeadQuery) ([]engine.PositionStats, error) {
	panic("index out of range in a kernel")
}

func TestEnginePanicIsAnErrorOnScreen(t *testing.T) {
	cfg := testConfig(t)
	cfg.newBackend = func() (engine.Backend, string, error) {
		return testBackend{panickingBackend{engine.NewCPU(1)}}, "", nil
	}
	h := newHarness(t, cfg, 80, 24)
	h.until("the failure to be reported", func(a *app) bool { return a.panes[0].runErr != nil })
	if !strings.Contains(plain(h.a.View()), "engine failure: index out of range") {
		t.Fatalf("the failure is not on screen: %q", plain(h.a.View()))
	}
	// The worker survives: a restart runs (and fails) again instead of hanging.
	h.a.panes[0].runErr = nil
	h.press("R")
	h.until("the failure to be reported again", func(a *app) bool { return a.panes[0].runErr != nil })
}
