package ui

import (
	"reflect"
	"strings"
	"testing"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"diffuapriel/engine"
	"diffuapriel/models"
)

// finishedAtEnd is a single-pane playground whose generation has finished,
// paused on its last step.
func finishedAtEnd(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, testConfig(t), 80, 24)
	h.done()
	h.press("G")
	return h
}

func TestPlayPauseKey(t *testing.T) {
	h := newHarness(t, testConfig(t), 80, 24)
	h.done()
	if !h.a.play.playing || h.a.play.cursor != 0 {
		t.Fatalf("after loading: playing=%v cursor=%d, want playing from 0", h.a.play.playing, h.a.play.cursor)
	}
	h.press("space")
	if h.a.play.playing {
		t.Fatal("space did not pause")
	}
	h.press("space")
	if !h.a.play.playing {
		t.Fatal("space did not resume")
	}
	// Ticks advance the animation one event each, and it stops at the end.
	n := h.a.panes[0].events()
	for range n + 2 {
		h.a.Update(tickMsg{id: h.a.play.tickID})
	}
	if h.a.play.cursor != n || h.a.play.playing {
		t.Fatalf("after %d ticks: cursor %d playing %v, want %d and stopped", n+2, h.a.play.cursor, h.a.play.playing, n)
	}
	// A stale ticker (from before a pause) does nothing.
	h.press("space") // at the end: rewinds and plays
	if h.a.play.cursor != 0 || !h.a.play.playing {
		t.Fatalf("space at the end: cursor %d playing %v, want a replay from 0", h.a.play.cursor, h.a.play.playing)
	}
	stale := h.a.play.tickID - 1
	h.a.Update(tickMsg{id: stale})
	if h.a.play.cursor != 0 {
		t.Fatal("a stale tick moved the cursor")
	}
}

func TestStepAndScrubKeys(t *testing.T) {
	h := finishedAtEnd(t)
	n := h.a.panes[0].events()
	if n < 8 {
		t.Fatalf("only %d events; the test needs at least 8", n)
	}
	for _, tc := range []struct {
		keys []string
		want int
	}{
		{[]string{"g"}, 0}, {[]string{"."}, 1}, {[]string{"right"}, 2}, {[]string{"l"}, 3},
		{[]string{","}, 2}, {[]string{"left"}, 1}, {[]string{"h"}, 0}, {[]string{","}, 0},
		{[]string{"G"}, n}, {[]string{"."}, n}, {[]string{"home"}, 0}, {[]string{"end"}, n},
		{[]string{"g", "]"}, min(10, n)}, {[]string{"G", "["}, max(n-10, 0)}, {[]string{"g", "["}, 0},
	} {
		h.press(tc.keys...)
		if h.a.play.cursor != tc.want || h.a.play.playing {
			t.Errorf("keys %v: cursor %d playing %v, want %d paused", tc.keys, h.a.play.cursor, h.a.play.playing, tc.want)
		}
	}
	// Scrubbing shows recorded states: the canvas at step k has exactly the
	// reveals of the first k events.
	h.press("g", ".", ".", ".")
	f := h.a.frameOf(h.a.panes[0])
	want := f.masked
	revealed := 0
	for _, ev := range h.a.panes[0].hist.Events[:3] {
		revealed += len(ev.Revealed)
	}
	if want != 12-revealed {
		t.Fatalf("at step 3: %d masks, want %d", want, 12-revealed)
	}
}

func TestSpeedKeys(t *testing.T) {
	h := finishedAtEnd(t)
	s := h.a.play.speed
	h.press("+")
	if h.a.play.speed != s+1 {
		t.Fatalf("+: speed %d, want %d", h.a.play.speed, s+1)
	}
	h.press("-", "-")
	if h.a.play.speed != s-1 {
		t.Fatalf("- twice: speed %d, want %d", h.a.play.speed, s-1)
	}
	for range 20 {
		h.apply(keyMsg("-"))
	}
	if h.a.play.speed != 0 {
		t.Fatal("speed went below the slowest")
	}
	if !strings.Contains(plain(h.a.View()), "1/s") {
		t.Fatal("the timeline does not show the speed")
	}
}

func TestControlsKeysRestartGeneration(t *testing.T) {
	h := finishedAtEnd(t)
	gen := h.a.panes[0].gen
	h.press("tab")
	if !h.a.controls.focused {
		t.Fatal("tab did not focus the controls")
	}
	// Row 0 is the model; move to steps.
	h.press("down")
	if h.a.controls.rows[h.a.controls.row].name != "steps" {
		t.Fatalf("down: row %q, want steps", h.a.controls.rows[h.a.controls.row].name)
	}
	h.press("right")
	if got := h.a.controls.s.opts.Steps; got != 12 {
		t.Fatalf("right on steps 8: %d, want 12", got)
	}
	h.done()
	p := h.a.panes[0]
	if p.gen == gen {
		t.Fatal("changing steps did not restart the generation")
	}
	if last := p.hist.Events[len(p.hist.Events)-1]; last.Steps != 12 {
		t.Fatalf("the new generation ran %d steps, want 12", last.Steps)
	}
	if h.a.play.cursor != 0 || !h.a.play.playing {
		t.Fatal("a restart should play from the first step")
	}
	h.press("left")
	if h.a.controls.s.opts.Steps != 8 {
		t.Fatalf("left: steps %d, want 8", h.a.controls.s.opts.Steps)
	}
	h.press("k", "k", "j")
	if h.a.controls.row != 0 {
		t.Fatalf("k,k,j from row 1: row %d, want 0 (k wraps to the last row)", h.a.controls.row)
	}
	// Every row changes its setting with → and announces it.
	for i := range h.a.controls.rows {
		h.a.controls.row = i
		before := h.a.controls.s
		h.press("right")
		if h.a.controls.s == before {
			h.press("left")
		}
		if h.a.controls.s == before {
			t.Errorf("control %q: neither → nor ← changed it", h.a.controls.rows[i].name)
		}
	}
	h.press("esc")
	if h.a.controls.focused {
		t.Fatal("esc did not leave the controls")
	}
	// Unfocused, the arrows step through the animation instead.
	steps := h.a.controls.s.opts.Steps
	h.press("right")
	if h.a.controls.s.opts.Steps != steps {
		t.Fatal("an unfocused control changed")
	}
}

func TestSamplerAndScheduleControlsReachTheEngine(t *testing.T) {
	h := finishedAtEnd(t)
	h.press("tab", "down", "down", "right") // schedule: loglinear -> linear
	h.press("down", "right")                // sampler: confidence -> margin
	h.done()
	s := h.a.controls.s.opts
	if s.Schedule != "linear" || s.Sampler != "margin" {
		t.Fatalf("schedule %q sampler %q, want linear and margin", s.Schedule, s.Sampler)
	}
	// Margin scores are top-1 minus top-2 probabilities, not p.
	for _, ev := range h.a.panes[0].hist.Events {
		for _, rv := range ev.Revealed {
			if len(rv.Top) >= 2 && ev.ModelCalled && !ev.NoiseRemoval {
				if d := rv.Score - (rv.Top[0].Prob - rv.Top[1].Prob); d > 1e-4 || d < -1e-4 {
					t.Fatalf("event %d pos %d: score %g is not the margin %g", ev.Index, rv.Pos, rv.Score, rv.Top[0].Prob-rv.Top[1].Prob)
				}
			}
		}
	}
}

func TestRerollAndRestartKeys(t *testing.T) {
	h := finishedAtEnd(t)
	seed, gen := h.a.controls.s.opts.Seed, h.a.panes[0].gen
	h.press("r")
	if h.a.controls.s.opts.Seed == seed {
		t.Fatal("r kept the seed")
	}
	h.done()
	if h.a.panes[0].gen == gen {
		t.Fatal("r did not regenerate")
	}
	gen = h.a.panes[0].gen
	h.press("G", "R")
	if h.a.panes[0].gen == gen || h.a.play.cursor != 0 {
		t.Fatal("R did not restart from the first step")
	}
	h.done()
}

func TestNextModelKeyLoadsAnotherBackbone(t *testing.T) {
	h := finishedAtEnd(t)
	h.press("m")
	h.until("the next model to load", func(a *app) bool { return a.panes[0].ready() })
	if bb := h.a.panes[0].cfg.Backbone; bb != models.BackboneHybrid {
		t.Fatalf("m loaded backbone %q, want hybrid", bb)
	}
	h.done()
	if h.a.panes[0].events() == 0 {
		t.Fatal("no generation after switching models")
	}
	if !strings.Contains(plain(h.a.View()), "hybrid-tiny") {
		t.Fatal("the screen does not name the new model")
	}
}

func TestHeatThemeHelpAndQuitKeys(t *testing.T) {
	h := finishedAtEnd(t)
	h.press("c")
	if h.a.heat {
		t.Fatal("c did not turn heat colouring off")
	}
	h.press("c")
	if !h.a.heat {
		t.Fatal("c did not turn heat colouring back on")
	}
	h.press("T")
	if h.a.styles.theme.Name != "light" {
		t.Fatalf("T: theme %q, want light", h.a.styles.theme.Name)
	}
	h.press("?")
	if !h.a.showHelp || !strings.Contains(plain(h.a.View()), "pin candidate") {
		t.Fatal("? did not open the help overlay listing the bindings")
	}
	h.press("space")
	if !h.a.showHelp || h.a.play.playing {
		t.Fatal("keys other than ?/esc/q should not act behind the help overlay")
	}
	h.press("esc")
	if h.a.showHelp {
		t.Fatal("esc did not close help")
	}
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := h.a.Update(keyMsg(k))
		if cmd == nil {
			t.Fatalf("%s returned no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s did not quit", k)
		}
	}
}

func TestScrollKeys(t *testing.T) {
	cfg := testConfig(t)
	cfg.length = 96
	h := newHarness(t, cfg, 60, 20)
	h.done()
	h.press("G", "pgdown")
	if h.a.scroll == 0 {
		t.Fatal("pgdown did not scroll")
	}
	for range 50 {
		h.apply(keyMsg("pgdown")) // scrolling sends no messages: no need to settle
	}
	lines := len(layoutPieces(framePieces(cfg.tok, h.a.frameOf(h.a.panes[0])), h.a.canvasWidth()).Lines)
	if want := lines - h.a.canvasHeight(); h.a.scroll != want {
		t.Fatalf("scrolled to line %d of %d, want %d (the last line at the bottom)", h.a.scroll, lines, want)
	}
	first := plain(h.a.View())
	for range 50 {
		h.apply(keyMsg("pgup"))
	}
	if h.a.scroll != 0 || plain(h.a.View()) == first {
		t.Fatal("pgup did not scroll back to the top")
	}
}

func TestEditorKeys(t *testing.T) {
	h := finishedAtEnd(t)
	h.press("e")
	if !h.a.editor.open {
		t.Fatal("e did not open the editor")
	}
	h.press("q") // typed into the prompt, not quitting
	if h.quit || !strings.HasSuffix(h.a.editor.ta.Value(), "q") {
		t.Fatalf("q in the editor: value %q quit %v", h.a.editor.ta.Value(), h.quit)
	}
	h.press("esc")
	if h.a.editor.open || h.a.prompt != "The quick brown fox" {
		t.Fatal("esc should close the editor and keep the prompt")
	}
	// An invalid span is refused with the reason, and the editor stays open.
	h.press("e")
	h.a.editor.ta.SetValue("A [MASK:0] b")
	h.press("ctrl+s")
	if !h.a.editor.open || !strings.Contains(h.a.editor.err, "MASK:0") {
		t.Fatalf("bad prompt: open %v err %q", h.a.editor.open, h.a.editor.err)
	}
	// An infill prompt is applied: the canvas has a 3-token hole inside it.
	h.a.editor.ta.SetValue("Once [MASK:3] a time")
	h.press("ctrl+s")
	if h.a.editor.open || h.a.prompt != "Once [MASK:3] a time" {
		t.Fatalf("apply: open %v prompt %q", h.a.editor.open, h.a.prompt)
	}
	h.done()
	hist := h.a.panes[0].hist
	holes := 0
	for i, fixed := range hist.Initial.Fixed {
		if !fixed && i < len(hist.Initial.Fixed)-h.a.controls.s.length {
			holes++
		}
	}
	if holes != 3 {
		t.Fatalf("infill prompt made %d inner masks, want 3", holes)
	}
}

func TestInspectorKeys(t *testing.T) {
	h := finishedAtEnd(t)
	h.press("i")
	f := h.a.frameOf(h.a.panes[0])
	first := 0
	for f.fixed[first] {
		first++
	}
	if !h.a.insp.open || h.a.insp.pos != first {
		t.Fatalf("i: open %v pos %d, want the first generated position %d", h.a.insp.open, h.a.insp.pos, first)
	}
	h.press("right", "l")
	if h.a.insp.pos != first+2 {
		t.Fatalf("right, l: pos %d, want %d", h.a.insp.pos, first+2)
	}
	h.press("left", "h", "h")
	if h.a.insp.pos != first-1 {
		t.Fatalf("left, h, h: pos %d, want %d", h.a.insp.pos, first-1)
	}
	if h.a.play.cursor != h.a.panes[0].events() {
		t.Fatal("cursor keys in the inspector moved the animation")
	}
	view := plain(h.a.View())
	if !strings.Contains(view, "prompt (fixed)") {
		t.Fatalf("inspecting a prompt token: %q", view)
	}
	h.press("right", "right")
	view = plain(h.a.View())
	if !strings.Contains(view, "revealed at step") || !strings.Contains(view, "  1 “") {
		t.Fatal("inspecting a revealed token shows neither its step nor its candidates")
	}
	// Up and down move by lines on a narrow wrapped canvas.
	cfg := testConfig(t)
	cfg.length = 64
	h2 := newHarness(t, cfg, 60, 24)
	h2.done()
	h2.press("G", "i")
	l := layoutPieces(framePieces(cfg.tok, h2.a.frameOf(h2.a.panes[0])), h2.a.canvasWidth())
	if len(l.Lines) < 3 {
		t.Fatalf("only %d lines; the test needs a wrapped canvas", len(l.Lines))
	}
	line := l.PosLine[h2.a.insp.pos]
	h2.press("down")
	if l.PosLine[h2.a.insp.pos] != line+1 {
		t.Fatalf("down: line %d, want %d", l.PosLine[h2.a.insp.pos], line+1)
	}
	h2.press("up", "k")
	if l.PosLine[h2.a.insp.pos] != max(line-1, 0) {
		t.Fatalf("up, k: line %d, want %d", l.PosLine[h2.a.insp.pos], max(line-1, 0))
	}
	h2.press("j")
	if l.PosLine[h2.a.insp.pos] != max(line-1, 0)+1 {
		t.Fatal("j did not move down a line")
	}
	h.press("esc")
	if h.a.insp.open {
		t.Fatal("esc did not close the inspector")
	}
	h.press("i", "i")
	if h.a.insp.open {
		t.Fatal("i did not toggle the inspector off")
	}
}

func TestPinKeySteersAndResumes(t *testing.T) {
	h := finishedAtEnd(t)
	p := h.a.panes[0]
	h.press("g", ".", ".", ".", "i") // step 3, cursor on the first generated position
	n := h.a.play.cursor
	f := h.a.frameOf(p)
	// Find a still-masked position with candidates, and pin its 2nd one.
	pos := -1
	for i, t := range f.tokens {
		if t == f.mask && len(candidatesAt(f, i)) >= 2 {
			pos = i
			break
		}
	}
	if pos < 0 {
		t.Fatal("no masked position with candidates at step 3")
	}
	h.a.insp.pos = pos
	want := candidatesAt(f, pos)[1].Token
	h.press("2")
	if len(p.hist.Edits) != 1 || p.hist.Edits[0] != (engine.Edit{Before: n, Pos: pos, Token: want}) {
		t.Fatalf("after pinning: edits %+v; want one edit {%d %d %d}", p.hist.Edits, n, pos, want)
	}
	h.done()
	if p.events() <= n {
		t.Fatal("the diffusion did not resume after steering")
	}
	if p.hist.Events[n].Index != n {
		t.Fatalf("resumed events start at index %d, want %d", p.hist.Events[n].Index, n)
	}
	final := p.frameAt(p.events())
	if final.tokens[pos] != want || final.masked != 0 {
		t.Fatalf("after resuming: pos %d holds %d (want %d), %d masks left", pos, final.tokens[pos], want, final.masked)
	}
	for i, fixed := range final.fixed {
		if fixed != p.hist.Initial.Fixed[i] {
			t.Fatal("steering changed which positions are fixed")
		}
	}
	if !strings.Contains(plain(h.a.View()), "pinned by you") {
		t.Fatal("the inspector does not show the pin")
	}
}

func TestRemaskKeySteers(t *testing.T) {
	h := finishedAtEnd(t)
	p := h.a.panes[0]
	n := p.events()
	h.press("i")
	pos := h.a.insp.pos
	h.press("x")
	if len(p.hist.Edits) != 1 || p.hist.Edits[0].Token != p.hist.Mask || p.hist.Edits[0].Pos != pos {
		t.Fatalf("x: edits %+v, want a re-mask of %d", p.hist.Edits, pos)
	}
	h.done()
	if p.events() != n+1 {
		t.Fatalf("after re-masking the finished text: %d events, want %d (one more step fills the hole)", p.events(), n+1)
	}
	if last := p.frameAt(p.events()); last.masked != 0 || last.info[pos].origin != n {
		t.Fatalf("the re-masked position was not redrawn by event %d", n)
	}
	// Prompt positions cannot be steered.
	h.press("G")
	h.a.insp.pos = 0
	edits := len(p.hist.Edits)
	h.press("x", "1")
	if len(p.hist.Edits) != edits {
		t.Fatal("steering a prompt token was accepted")
	}
}

func TestComparePanesRunInLockStep(t *testing.T) {
	h := newHarness(t, compareConfig(t), 120, 30)
	h.done()
	if len(h.a.panes) != 3 {
		t.Fatalf("%d panes, want 3", len(h.a.panes))
	}
	seen := map[string]bool{}
	for _, p := range h.a.panes {
		seen[p.cfg.Backbone] = true
		if p.events() == 0 {
			t.Fatalf("pane %s produced no events", p.src.name)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("backbones %v, want all three", seen)
	}
	h.press("g", ".", ".")
	for _, p := range h.a.panes {
		if f := h.a.frameOf(p); f.n != 2 {
			t.Fatalf("pane %s shows step %d, want 2 (lock step)", p.src.name, f.n)
		}
	}
	view := plain(h.a.View())
	for _, want := range []string{"ms/step", "tok/s", "2 model calls · cpu", "test cpu", "compare 3 models"} {
		if !strings.Contains(view, want) {
			t.Errorf("compare view lacks %q", want)
		}
	}
	h.press("i", "p")
	if h.a.insp.pane != 1 {
		t.Fatalf("p: inspecting pane %d, want 1", h.a.insp.pane)
	}
	h.press("p", "p")
	if h.a.insp.pane != 0 {
		t.Fatal("p does not cycle through the panes")
	}
	// m has no meaning in compare mode: every pane keeps its model.
	h.press("m")
	if h.a.panes[0].cfg.Backbone != h.a.cfg.models[0].name[:len(h.a.panes[0].cfg.Backbone)] {
		t.Fatal("m changed a compare pane's model")
	}
}

func TestKeysArrivingTogetherActOneByOne(t *testing.T) {
	h := finishedAtEnd(t)
	h.press("g")
	h.apply(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("...")})
	if h.a.play.cursor != 3 {
		t.Fatalf("\"...\" in one message: cursor %d, want 3", h.a.play.cursor)
	}
}

func TestEveryBindingIsInTheHelp(t *testing.T) {
	km := newKeyMap()
	listed := map[string]bool{}
	for _, group := range km.FullHelp() {
		for _, b := range group {
			listed[b.Help().Key+" "+b.Help().Desc] = true
		}
	}
	v := reflect.ValueOf(km)
	for i := range v.NumField() {
		b := v.Field(i).Interface().(key.Binding)
		if !listed[b.Help().Key+" "+b.Help().Desc] {
			t.Errorf("binding %s (%q) is not in the help overlay", v.Type().Field(i).Name, b.Help().Key)
		}
	}
	h := finishedAtEnd(t)
	h.apply(tearesize(120, 40))
	h.press("?")
	view := plain(h.a.View())
	for entry := range listed {
		desc := entry[strings.Index(entry, " ")+1:]
		if !strings.Contains(view, desc) {
			t.Errorf("the help overlay does not show %q", desc)
		}
	}
}

func TestKeyAliases(t *testing.T) {
	h := finishedAtEnd(t)
	s := h.a.play.speed
	h.press("=")
	h.press("_", "_")
	if h.a.play.speed != s-1 {
		t.Fatalf("= then _ _: speed %d, want %d", h.a.play.speed, s-1)
	}
	h.press("tab", "down") // steps
	for _, tc := range []struct {
		key  string
		want int
	}{{"l", 12}, {"+", 16}, {"=", 24}, {"h", 16}, {"-", 12}, {"left", 8}} {
		h.press(tc.key)
		if got := h.a.controls.s.opts.Steps; got != tc.want {
			t.Fatalf("%q on steps: %d, want %d", tc.key, got, tc.want)
		}
	}
}

func TestEveryPinKeyPinsItsCandidate(t *testing.T) {
	h := finishedAtEnd(t)
	p := h.a.panes[0]
	for k := 1; k <= 5; k++ {
		h.press("g", ".", ".", ".")
		f := h.a.frameOf(p)
		pos := -1
		for i, tok := range f.tokens {
			if tok == f.mask && len(candidatesAt(f, i)) >= k {
				pos = i
				break
			}
		}
		if pos < 0 {
			t.Fatalf("no masked position with %d candidates at step 3", k)
		}
		h.a.insp.open, h.a.insp.pos = true, pos
		want := candidatesAt(f, pos)[k-1].Token
		h.press(string(rune('0' + k)))
		last := p.hist.Edits[len(p.hist.Edits)-1]
		if last.Pos != pos || last.Token != want || last.Before != 3 {
			t.Fatalf("key %d: edit %+v, want token %d at %d before event 3", k, last, want, pos)
		}
		h.done()
	}
}

func TestHelpScrollsOnASmallTerminal(t *testing.T) {
	h := newHarness(t, testConfig(t), 60, 20)
	h.done()
	h.press("?")
	seen := map[string]bool{}
	for range 40 {
		for _, line := range strings.Split(plain(h.a.View()), "\n") {
			seen[strings.TrimSpace(strings.Trim(line, "┃ "))] = true
		}
		h.apply(keyMsg("down"))
	}
	view := strings.Join(func() []string {
		var out []string
		for l := range seen {
			out = append(out, l)
		}
		return out
	}(), "\n")
	for _, group := range h.a.keys.FullHelp() {
		for _, b := range group {
			if !strings.Contains(view, b.Help().Desc) {
				t.Errorf("scrolling the help never shows %q", b.Help().Desc)
			}
		}
	}
	h.press("up")
	if !h.a.showHelp {
		t.Fatal("scrolling closed the help")
	}
}
