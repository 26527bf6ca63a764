package ui

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"diffuapriel/engine"
	"diffuapriel/record"
)

// savedFiles lists the files in dir with the extension.
func savedFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// saveThroughKey presses S and reads back the one trace it wrote.
func saveThroughKey(t *testing.T, h *harness) (*engine.Trace, string) {
	t.Helper()
	before := len(savedFiles(t, h.a.cfg.outDir, ".jsonl"))
	h.press("S")
	files := savedFiles(t, h.a.cfg.outDir, ".jsonl")
	if len(files) != before+1 || !strings.Contains(h.a.status, "saved trace") || h.a.statusErr {
		t.Fatalf("S wrote %d new files; status %q", len(files)-before, h.a.status)
	}
	path := files[len(files)-1]
	tr, err := engine.ReadTraceFile(path)
	if err != nil {
		t.Fatalf("the saved trace does not read back: %v", err)
	}
	return tr, path
}

// replayHarness opens a trace the way `diffuapriel replay` does, with the
// test's tokenizer, theme and colour mode.
func replayHarness(t *testing.T, tr *engine.Trace, path string, width, height int) *harness {
	t.Helper()
	live := testConfig(t)
	cfg := replayConfig(tr, path)
	cfg.tok, cfg.theme, cfg.mono, cfg.outDir = live.tok, live.theme, live.mono, t.TempDir()
	return newHarness(t, cfg, width, height)
}

// canvasAt is what the playground draws of the run at step n: every
// pane's text, and for each pane its progress line and the inspector on a
// few positions (with the steering hint, which differs in a replay, drawn
// as in the live run).
func canvasAt(a *app, n int) string {
	saved := a.insp
	defer func() { a.insp = saved }()
	a.play.cursor = n
	a.insp.open = false // no cursor on the text
	g := a.geometry()
	var sb strings.Builder
	for i, p := range a.panes {
		sb.WriteString(strings.Join(a.paneText(i, p, g.paneW[i]-4, g.textH), "\n"))
		sb.WriteString("\n")
	}
	for i := range a.panes {
		a.insp.pane = i
		sb.WriteString(a.progressView() + "\n")
		f := a.frameOf(a.focusPane())
		last := len(f.tokens) - 1
		for _, at := range []int{0, last / 2, last} {
			a.insp.pos = at
			sb.WriteString(a.insp.view(a.styles, a.cfg.tok, f, a.width, inspRows, true) + "\n")
		}
	}
	return sb.String()
}

// assertSameFrames compares the live playground with the replay of its
// trace at every step.
func assertSameFrames(t *testing.T, live, replay *harness) {
	t.Helper()
	lb, rb := live.a.bounds(), replay.a.bounds()
	if lb.available != rb.available || !rb.finished {
		t.Fatalf("replay has %d steps (finished %v), the live run %d", rb.available, rb.finished, lb.available)
	}
	for n := 0; n <= lb.available; n++ {
		want, got := canvasAt(live.a, n), canvasAt(replay.a, n)
		if got != want {
			t.Fatalf("step %d differs:\nlive:\n%s\nreplay:\n%s", n, plain(want), plain(got))
		}
	}
}

func TestReplayShowsTheLiveFramesSingle(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = t.TempDir()
	live := newHarness(t, cfg, 100, 30)
	live.done()
	tr, path := saveThroughKey(t, live)
	if len(tr.Panes) != 1 || tr.Header.Panes[0].Model != live.a.panes[0].src.name || tr.Header.Prompt != cfg.prompt ||
		tr.Header.Panes[0].Config == nil || tr.Header.Panes[0].Backend != "cpu" || tr.Header.Options != cfg.opts {
		t.Fatalf("trace header %+v does not describe the run", tr.Header)
	}
	assertSameFrames(t, live, replayHarness(t, tr, path, 100, 30))
}

func TestReplayShowsTheLiveFramesCompareSteered(t *testing.T) {
	cfg := compareConfig(t)
	cfg.outDir = t.TempDir()
	live := newHarness(t, cfg, 140, 34)
	live.done()
	// Steer the second pane only: its edit must come back on pane 2.
	live.press("G", "left", "i", "p")
	p := live.a.panes[1]
	f := live.a.frameOf(p)
	for i := range f.tokens {
		if !f.fixed[i] && f.tokens[i] != f.mask {
			live.a.insp.pos = i
			break
		}
	}
	live.press("x")
	live.done()
	if len(p.hist.Edits) != 1 || len(live.a.panes[0].hist.Edits) != 0 {
		t.Fatal("x did not steer the second pane alone")
	}
	tr, path := saveThroughKey(t, live)
	if len(tr.Panes) != 3 {
		t.Fatalf("compare trace has %d panes", len(tr.Panes))
	}
	if len(tr.Panes[1].Edits) != 1 || len(tr.Panes[0].Edits)+len(tr.Panes[2].Edits) != 0 {
		t.Fatal("the steering edit is not on the second pane of the trace")
	}
	r := replayHarness(t, tr, path, 140, 34)
	if !r.a.cfg.compare || len(r.a.panes) != 3 {
		t.Fatal("a compare trace does not replay side by side")
	}
	assertSameFrames(t, live, r)
}

func TestReplayShowsASteeredRun(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = t.TempDir()
	live := newHarness(t, cfg, 100, 30)
	live.done()
	p := live.a.panes[0]
	// Pin a candidate at step 3, then re-mask a token at the end: two
	// edits, each dropping the events after it.
	live.press("g", ".", ".", ".", "i")
	f := live.a.frameOf(p)
	for i, tok := range f.tokens {
		if tok == f.mask && len(candidatesAt(f, i)) >= 2 {
			live.a.insp.pos = i
			break
		}
	}
	live.press("2")
	live.done()
	live.press("G", "left")
	for i := range f.tokens {
		if fr := live.a.frameOf(p); !fr.fixed[i] && fr.tokens[i] != fr.mask {
			live.a.insp.pos = i
			break
		}
	}
	live.press("x")
	live.done()
	if len(p.hist.Edits) != 2 {
		t.Fatalf("steering made %d edits, want 2", len(p.hist.Edits))
	}
	tr, path := saveThroughKey(t, live)
	if got := tr.Panes[0].Edits; len(got) != 2 || got[0] != p.hist.Edits[0] || got[1] != p.hist.Edits[1] {
		t.Fatalf("trace edits %+v, live %+v", got, p.hist.Edits)
	}
	assertSameFrames(t, live, replayHarness(t, tr, path, 100, 30))
}

func TestSaveKeyNeverOverwritesAndReportsErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = t.TempDir()
	h := newHarness(t, cfg, 100, 30)
	h.done()
	h.press("S", "S")
	if n := len(savedFiles(t, cfg.outDir, ".jsonl")); n != 2 {
		t.Fatalf("two saves in the same second wrote %d files, want 2", n)
	}
	// An unwritable destination is a one-line message; the playground stays.
	h.a.cfg.outDir = filepath.Join(cfg.outDir, "missing")
	h.press("S")
	if !h.a.statusErr || !strings.Contains(h.a.status, "does not exist") || strings.Contains(h.a.status, "\n") {
		t.Fatalf("status after a failed save: %q", h.a.status)
	}
	if !strings.Contains(plain(h.a.View()), "cannot write") {
		t.Fatal("the status bar does not show the save error")
	}
	h.press("g", ".")
	if h.a.play.cursor != 1 || h.a.status != "" {
		t.Fatalf("after the error the playground does not answer keys (cursor %d, status %q)", h.a.play.cursor, h.a.status)
	}
}

func TestReplayDisablesWhatNeedsTheModel(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = t.TempDir()
	live := newHarness(t, cfg, 100, 30)
	live.done()
	tr, path := saveThroughKey(t, live)
	r := replayHarness(t, tr, path, 100, 30)
	r.press("G")
	hist := r.a.panes[0].hist
	events := len(hist.Events)
	for _, k := range []string{"R", "r", "tab", "m", "e", "x", "1", "S"} {
		r.press("i", k)
		if !r.a.statusErr || !strings.HasPrefix(r.a.status, "replay: ") {
			t.Errorf("%s in a replay: status %q, want a replay notice", k, r.a.status)
		}
		if !strings.Contains(plain(r.a.View()), "replay: ") {
			t.Errorf("%s: the notice is not in the status bar", k)
		}
		if r.a.editor.open || r.a.controls.focused || len(hist.Edits) != 0 || len(hist.Events) != events {
			t.Fatalf("%s changed a replayed run", k)
		}
		r.press("i")
	}
	// Playback, scrubbing, heat and the inspector still work.
	r.press("g", ".", ".", "c", "i", "right")
	if r.a.play.cursor != 2 || r.a.heat || !r.a.insp.open || r.a.status != "" {
		t.Fatalf("replay controls: cursor %d heat %v inspector %v status %q", r.a.play.cursor, r.a.heat, r.a.insp.open, r.a.status)
	}
	r.press("space")
	if !r.a.play.playing {
		t.Fatal("space does not play a replay")
	}
}

func TestReplayInspectorShowsRecordedCandidates(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = t.TempDir()
	live := newHarness(t, cfg, 100, 30)
	live.done()
	tr, path := saveThroughKey(t, live)
	r := replayHarness(t, tr, path, 100, 30)
	r.press("G", "i")
	f := r.a.frameOf(r.a.panes[0])
	cands := candidatesAt(f, r.a.insp.pos)
	if len(cands) == 0 {
		t.Fatal("no recorded candidates at the inspector's position")
	}
	view := plain(r.a.View())
	want := displayToken(cfg.tok.Pieces([]int32{cands[0].Token})[0])
	if !strings.Contains(view, want) || !strings.Contains(view, formatScore(cands[0].Prob)) {
		t.Fatalf("the inspector does not show the top candidate %s %s:\n%s", want, formatScore(cands[0].Prob), view)
	}
}

// tapProgram runs the playground as Bubble Tea runs it, its output through
// a record.Tap over a file standing in for the terminal. The test reads
// the app only after the program has ended; while it runs, it watches the
// terminal output and the tap.
type tapProgram struct {
	t        *testing.T
	a        *app
	tap      *record.Tap
	termPath string
	prog     *tea.Program
	done     chan struct{}
}

func startTapProgram(t *testing.T, cfg appConfig) *tapProgram {
	t.Helper()
	tp := &tapProgram{t: t, a: newApp(cfg), done: make(chan struct{}), termPath: filepath.Join(t.TempDir(), "terminal")}
	term, err := os.Create(tp.termPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	t.Cleanup(tp.a.shutdown)
	tp.tap = record.NewTap(term, func(err error) { go tp.prog.Send(recordFailedMsg{err}) })
	t.Cleanup(func() { tp.tap.Close() })
	tp.a.rec = tp.tap
	tp.prog = tea.NewProgram(tp.a, tea.WithInput(nil), tea.WithOutput(tp.tap), tea.WithoutSignals())
	go func() {
		defer close(tp.done)
		if _, err := tp.prog.Run(); err != nil {
			t.Error(err)
		}
	}()
	tp.prog.Send(tea.WindowSizeMsg{Width: 100, Height: 30})
	return tp
}

// waitFor polls cond until it holds.
func (tp *tapProgram) waitFor(what string, cond func() bool) {
	tp.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			tp.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// drawn reports whether the terminal has shown text.
func (tp *tapProgram) drawn(text string) bool {
	data, _ := os.ReadFile(tp.termPath)
	return bytes.Contains(data, []byte(text))
}

func (tp *tapProgram) recording() bool {
	_, on := tp.tap.Recording()
	return on
}

// quit ends the program and returns the app for inspection.
func (tp *tapProgram) quit() *app {
	tp.prog.Quit()
	<-tp.done
	return tp.a
}

// castLines parses an asciicast v2 file: its header and its events.
func castLines(t *testing.T, path string) (record.CastHeader, [][]any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	if !sc.Scan() {
		t.Fatal("empty recording")
	}
	var h record.CastHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	var events [][]any
	for sc.Scan() {
		var ev []any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		events = append(events, ev)
	}
	return h, events
}

func TestRecordKeyWritesAnAsciicast(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = t.TempDir()
	tp := startTapProgram(t, cfg)
	tp.waitFor("the generation", func() bool { return tp.drawn("masks 0") })
	tp.prog.Send(keyMsg("V"))
	tp.waitFor("the recording to start", tp.recording)
	tp.waitFor("REC in the status bar", func() bool { return tp.drawn("● REC diffuapriel-") })
	tp.prog.Send(keyMsg("g"))
	tp.prog.Send(keyMsg("."))
	tp.prog.Send(tea.WindowSizeMsg{Width: 90, Height: 28})
	tp.prog.Send(keyMsg("."))
	tp.waitFor("the steps", func() bool { return tp.drawn("2/8") })
	tp.prog.Send(keyMsg("V"))
	tp.waitFor("the recording to stop", func() bool { return !tp.recording() })
	a := tp.quit()
	if !strings.HasPrefix(a.status, "saved recording") {
		t.Fatalf("status after stopping: %q", a.status)
	}
	files := savedFiles(t, cfg.outDir, ".cast")
	if len(files) != 1 {
		t.Fatalf("%d recordings, want 1", len(files))
	}
	h, events := castLines(t, files[0])
	if h.Version != 2 || h.Width != 100 || h.Height != 30 {
		t.Fatalf("header %+v", h)
	}
	last, screen, resized := 0.0, "", false
	for _, ev := range events {
		at := ev[0].(float64)
		if at < last {
			t.Fatalf("time goes back: %v after %v", at, last)
		}
		last = at
		switch ev[1] {
		case "o":
			screen += ev[2].(string)
		case "r":
			resized = resized || ev[2] == "90x28"
		}
	}
	if !resized {
		t.Error("the resize is not recorded")
	}
	// The screen was repainted after the start, so the recording holds it
	// whole, not just what changed afterwards.
	for _, want := range []string{"diffuapriel", "controls", "temperature"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the recording does not show %q", want)
		}
	}
}

func TestRecordKeyUnwritableShowsTheErrorAndKeepsRunning(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = filepath.Join(t.TempDir(), "missing")
	tp := startTapProgram(t, cfg)
	tp.waitFor("the generation", func() bool { return tp.drawn("masks 0") })
	tp.prog.Send(keyMsg("V"))
	tp.waitFor("the error", func() bool { return tp.drawn("cannot write") })
	// Keys still work, and a recording that fails later (full disk) says so.
	tp.prog.Send(keyMsg("g"))
	tp.prog.Send(keyMsg("."))
	tp.prog.Send(recordFailedMsg{errString("recording stopped: cannot write x.cast: the disk is full")})
	tp.waitFor("the failure", func() bool { return tp.drawn("the disk is full") })
	a := tp.quit()
	if a.play.cursor != 1 || !a.statusErr || a.recordingLabel() != "" {
		t.Fatalf("after the errors: cursor %d, status %q, %q", a.play.cursor, a.status, a.recordingLabel())
	}
	if entries, _ := os.ReadDir(filepath.Dir(cfg.outDir)); len(entries) != 0 {
		t.Fatalf("a failed recording left files: %v", entries)
	}
}

func TestRecordFlagStartsWithTheScreen(t *testing.T) {
	cfg := testConfig(t)
	cfg.recordPath = filepath.Join(t.TempDir(), "demo.cast")
	tp := startTapProgram(t, cfg)
	tp.waitFor("the recording to start", tp.recording)
	tp.waitFor("REC", func() bool { return tp.drawn("● REC demo.cast") })
	tp.prog.Send(keyMsg("V"))
	tp.waitFor("the recording to stop", func() bool { return !tp.recording() })
	tp.quit()
	if h, events := castLines(t, cfg.recordPath); h.Version != 2 || h.Width != 100 || len(events) == 0 {
		t.Fatalf("--record file: header %+v, %d events", h, len(events))
	}
}

func TestCheckNewFileRefusesBeforeTheScreenOpens(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.cast")
	if err := os.WriteFile(existing, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{existing, filepath.Join(dir, "missing", "x.cast")} {
		err := checkNewFile("--record", path)
		if err == nil || !strings.HasPrefix(err.Error(), "--record") || strings.Contains(err.Error(), "\n") {
			t.Errorf("checkNewFile(%s) = %v", path, err)
		}
	}
	if data, _ := os.ReadFile(existing); string(data) != "keep" {
		t.Fatal("the existing file was touched")
	}
	if err := checkNewFile("--record", filepath.Join(dir, "new.cast")); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the check left files behind: %v", entries)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A save writes the run as it was when S was pressed, even if the
// generation goes on or is steered before the file is written (the write
// runs off the UI goroutine).
func TestSaveWritesTheRunAsItWasWhenAsked(t *testing.T) {
	cfg := testConfig(t)
	cfg.outDir = t.TempDir()
	h := newHarness(t, cfg, 100, 30)
	h.done()
	p := h.a.panes[0]
	want := len(p.hist.Events)
	cmd := h.a.saveTrace() // snapshot taken; nothing written yet
	if files := savedFiles(t, cfg.outDir, ".jsonl"); len(files) != 0 {
		t.Fatalf("the save wrote %v before its command ran", files)
	}
	// Steer after the snapshot: the history drops events and records an edit.
	pos := -1
	for i, fixed := range p.hist.Initial.Fixed {
		if !fixed {
			pos = i
			break
		}
	}
	original := p.hist.Events[1]
	if err := p.hist.Steer(1, pos, p.hist.Mask); err != nil {
		t.Fatal(err)
	}
	// The resumed generation's next event reuses the history's storage.
	if err := p.hist.Append(engine.StepEvent{Index: 1, Step: 99}); err != nil {
		t.Fatal(err)
	}
	msg, ok := cmd().(traceSavedMsg)
	if !ok || msg.err != nil {
		t.Fatalf("save returned %#v", msg)
	}
	tr, err := engine.ReadTraceFile(msg.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tr.Panes[0].Events); got != want || len(tr.Panes[0].Edits) != 0 || msg.events != want {
		t.Fatalf("saved %d events and %d edits (message says %d), want the %d events of the snapshot and no edit",
			got, len(tr.Panes[0].Edits), msg.events, want)
	}
	if got := tr.Panes[0].Events[1]; got.Step != original.Step || len(got.Revealed) != len(original.Revealed) {
		t.Fatalf("saved event 1 is step %d with %d reveals, the snapshot had step %d with %d", got.Step, len(got.Revealed), original.Step, len(original.Revealed))
	}
	h.a.traceSaved(msg)
	if h.a.statusErr || !strings.Contains(h.a.status, "saved trace") || len(h.a.saving) != 0 {
		t.Fatalf("status %q, reserved %v", h.a.status, h.a.saving)
	}
}
