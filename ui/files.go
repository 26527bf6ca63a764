package ui

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"diffuapriel/atomicfile"
	"diffuapriel/engine"
)

// recorder records the screen to an asciicast file (record.Tap, which the
// program writes its output through).
type recorder interface {
	Start(path string, force bool, width, height int, title string) error
	Stop() (string, error)
	Recording() (string, bool)
	Resize(width, height int)
}

// recordFailedMsg reports that a recording stopped on its own (full disk,
// directory removed); the recorder has already discarded it.
type recordFailedMsg struct{ err error }

// timestampedPath is a new file name in dir, diffuapriel-YYYYMMDD-HHMMSS.ext,
// with -2, -3, ... added when that name is taken or reserved: the
// playground never overwrites a file (atomicfile refuses one that appears
// meanwhile).
func timestampedPath(dir, ext string, now time.Time, reserved map[string]bool) string {
	base := filepath.Join(dir, "diffuapriel-"+now.Format("20060102-150405"))
	path := base + ext
	for i := 2; ; i++ {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) && !reserved[path] {
			return path
		}
		path = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
}

// setStatus shows a one-line message in the status bar until the next key.
func (a *app) setStatus(msg string, isErr bool) { a.status, a.statusErr = msg, isErr }

// traceHeader describes the run on screen: prompt, options, starting
// canvas and every pane's model.
func (a *app) traceHeader() (engine.TraceHeader, error) {
	h := engine.TraceHeader{Created: time.Now().UTC(), Prompt: a.prompt, Length: a.controls.s.length, Options: a.controls.s.opts}
	for i, p := range a.panes {
		if p.hist == nil {
			return h, fmt.Errorf("nothing to save: pane %d (%s) has not generated anything", i+1, p.src.name)
		}
		if i == 0 {
			h.Canvas, h.Mask = p.hist.Initial.Clone(), p.hist.Mask
		} else if p.hist.Mask != h.Mask || !slices.Equal(p.hist.Initial.Tokens, h.Canvas.Tokens) ||
			!slices.Equal(p.hist.Initial.Fixed, h.Canvas.Fixed) {
			return h, fmt.Errorf("cannot save: pane %d (%s) starts from a different canvas than pane 1", i+1, p.src.name)
		}
		h.Panes = append(h.Panes, engine.PaneInfo{Model: p.src.name, Path: p.src.path, Params: p.params,
			Backend: p.backend, Device: p.device, Config: p.cfg})
	}
	return h, nil
}

// traceSnapshot is a run on screen as a trace will hold it. It is taken on
// the UI goroutine and then written elsewhere: the events are copied (they
// are never changed once made), so generations and steering can go on
// meanwhile without touching what is being saved.
type traceSnapshot struct {
	header engine.TraceHeader
	panes  []engine.History
}

// snapshot copies the run on screen for saving.
func (a *app) snapshot() (traceSnapshot, error) {
	h, err := a.traceHeader()
	if err != nil {
		return traceSnapshot{}, err
	}
	snap := traceSnapshot{header: h}
	for _, p := range a.panes {
		snap.panes = append(snap.panes, engine.History{Events: slices.Clone(p.hist.Events), Edits: slices.Clone(p.hist.Edits)})
	}
	return snap, nil
}

// events counts the events of every pane.
func (s traceSnapshot) events() int {
	n := 0
	for _, p := range s.panes {
		n += len(p.Events)
	}
	return n
}

// write writes the snapshot as a trace: every pane's events with its
// steering edits placed before the event they precede, so engine.ReadTrace
// rebuilds exactly these histories.
func (s traceSnapshot) write(w io.Writer) error {
	tw, err := engine.NewTraceWriter(w, s.header)
	if err != nil {
		return err
	}
	for i, p := range s.panes {
		edits := p.Edits
		for n := 0; n <= len(p.Events); n++ {
			for ; len(edits) > 0 && edits[0].Before == n; edits = edits[1:] {
				if err := tw.Steer(i, edits[0]); err != nil {
					return err
				}
			}
			if n < len(p.Events) {
				if err := tw.Step(i, p.Events[n]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// writeTrace writes the run on screen as a trace, on the calling goroutine.
func (a *app) writeTrace(w io.Writer) error {
	snap, err := a.snapshot()
	if err != nil {
		return err
	}
	return snap.write(w)
}

// traceSavedMsg reports a save that ran off the UI goroutine.
type traceSavedMsg struct {
	path   string
	events int
	err    error
}

// saveTrace snapshots the run on screen and writes it to a new trace file
// in the working directory off the UI goroutine (a long run with every
// candidate is megabytes of JSON), so keys keep answering; the status bar
// says how it went. Names being written are reserved so that two quick
// saves never pick the same one.
func (a *app) saveTrace() tea.Cmd {
	snap, err := a.snapshot()
	if err != nil {
		a.setStatus(err.Error(), true)
		return nil
	}
	path := timestampedPath(a.cfg.outDir, ".jsonl", time.Now(), a.saving)
	a.saving[path] = true
	a.setStatus("saving trace "+path, false)
	return func() tea.Msg {
		err := atomicfile.WriteFile(path, false, snap.write)
		return traceSavedMsg{path: path, events: snap.events(), err: err}
	}
}

// traceSaved shows the outcome of a save.
func (a *app) traceSaved(msg traceSavedMsg) {
	delete(a.saving, msg.path)
	if msg.err != nil {
		a.setStatus(msg.err.Error(), true)
		return
	}
	a.setStatus(fmt.Sprintf("saved trace %s (%d events; diffuapriel replay %s)", msg.path, msg.events, msg.path), false)
}

// toggleRecording starts or stops the asciicast recording of the screen.
// After a start the screen is cleared so that Bubble Tea repaints all of it
// into the recording.
func (a *app) toggleRecording() tea.Cmd {
	if a.rec == nil {
		a.setStatus("recording needs the playground's terminal", true)
		return nil
	}
	if _, on := a.rec.Recording(); on {
		path, err := a.rec.Stop()
		if err != nil {
			a.setStatus(err.Error(), true)
			return nil
		}
		a.setStatus("saved recording "+path+" (asciinema play "+path+")", false)
		return nil
	}
	return a.startRecording(timestampedPath(a.cfg.outDir, ".cast", time.Now(), nil))
}

func (a *app) startRecording(path string) tea.Cmd {
	if err := a.rec.Start(path, false, a.width, a.height, "diffuapriel"); err != nil {
		a.setStatus(err.Error(), true)
		return nil
	}
	a.setStatus("", false)
	return tea.ClearScreen
}

// recordingLabel is the status bar's "● REC file" while recording.
func (a *app) recordingLabel() string {
	if a.rec == nil {
		return ""
	}
	if path, on := a.rec.Recording(); on {
		return "● REC " + filepath.Base(path)
	}
	return ""
}
