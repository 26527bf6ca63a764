// Package export renders a recorded trace (engine.ReadTrace) without the
// model: an animated GIF drawn in Go with the theme's colours, and one
// self-contained HTML page that replays the run with a scrubber, the
// heatmap and the candidates of every token.
//
// Frame n of a pane is its canvas after the first n events (frame 0 is the
// starting canvas), exactly engine.History.CanvasAt(n); a compare trace has
// as many frames as its longest pane, and a pane that finished earlier keeps
// showing its last frame.
package export

import (
	"fmt"
	"time"

	"diffuapriel/engine"
)

// Origins of a position that no event revealed.
const (
	originNone    = -1 // fixed, still masked, or re-masked by steering
	originSteered = -2 // set by a steering edit
)

// cellClass is how a position is drawn.
type cellClass uint8

const (
	classText    cellClass = iota // revealed earlier, heat off
	classFixed                    // prompt or infill context
	classMask                     // still masked
	classFresh                    // revealed by the frame's event
	classHeat                     // revealed earlier: coloured by probability
	classSteered                  // set by a steering edit
)

// paneWalker replays one pane's history frame by frame in O(changes) per
// frame, tracking for each position the event that revealed it. The
// playground draws its frames from it too (as Walker).
type paneWalker struct {
	hist   *engine.History
	n      int // events applied: the frame shown
	tokens []int32
	origin []int
	reveal []engine.Reveal
	masked int
	edit   int // next edit to apply
}

func newPaneWalker(h *engine.History) *paneWalker {
	c := h.Initial.Clone()
	w := &paneWalker{hist: h, tokens: c.Tokens, origin: make([]int, len(c.Tokens)), reveal: make([]engine.Reveal, len(c.Tokens))}
	for i := range w.origin {
		w.origin[i] = originNone
	}
	w.masked = c.Masked(h.Mask)
	w.applyEdits()
	return w
}

// Walker is the frame walker for other packages (the playground).
type Walker = paneWalker

// Origins a Walker reports for positions no event revealed.
const (
	OriginNone    = originNone
	OriginSteered = originSteered
)

// NewWalker starts at frame 0 of a history.
func NewWalker(h *engine.History) *Walker { return newPaneWalker(h) }

// Seek advances to frame n (or the last frame); a walker never goes back.
func (w *paneWalker) Seek(n int) {
	for w.n < n && w.advance() {
	}
}

// Frame is the number of events applied.
func (w *paneWalker) Frame() int { return w.n }

// Tokens is the canvas of the current frame; it changes as the walker
// advances.
func (w *paneWalker) Tokens() []int32 { return w.tokens }

// Origin is the event that revealed pos, OriginNone or OriginSteered;
// Reveal is what that event (or edit) recorded for it.
func (w *paneWalker) Origin(pos int) int           { return w.origin[pos] }
func (w *paneWalker) Reveal(pos int) engine.Reveal { return w.reveal[pos] }

// Masked counts the positions still masked.
func (w *paneWalker) Masked() int { return w.masked }

// Event is the event that produced the current frame, nil at frame 0.
func (w *paneWalker) Event() *engine.StepEvent { return w.event() }

// set changes a position's token, keeping the mask count.
func (w *paneWalker) set(pos int, token int32, origin int, rv engine.Reveal) {
	if w.tokens[pos] == w.hist.Mask {
		w.masked--
	}
	if token == w.hist.Mask {
		w.masked++
		origin = originNone
	}
	w.tokens[pos], w.origin[pos], w.reveal[pos] = token, origin, rv
}

// applyEdits applies the steering edits made before event w.n.
func (w *paneWalker) applyEdits() {
	for ; w.edit < len(w.hist.Edits) && w.hist.Edits[w.edit].Before <= w.n; w.edit++ {
		e := w.hist.Edits[w.edit]
		w.set(e.Pos, e.Token, originSteered, engine.Reveal{})
	}
}

// advance moves to the next frame; false at the last one.
func (w *paneWalker) advance() bool {
	if w.n >= len(w.hist.Events) {
		return false
	}
	for _, rv := range w.hist.Events[w.n].Revealed {
		w.set(rv.Pos, rv.Token, w.n, rv)
	}
	w.n++
	w.applyEdits()
	return true
}

// event is the event that produced the current frame, nil at frame 0.
func (w *paneWalker) event() *engine.StepEvent {
	if w.n == 0 {
		return nil
	}
	return &w.hist.Events[w.n-1]
}

// class is how position pos is drawn in the current frame.
func (w *paneWalker) class(pos int, heat bool) cellClass {
	switch {
	case w.hist.Initial.Fixed[pos]:
		return classFixed
	case w.tokens[pos] == w.hist.Mask:
		return classMask
	case w.origin[pos] == originSteered:
		return classSteered
	case w.origin[pos] == w.n-1:
		return classFresh
	case heat && w.origin[pos] >= 0:
		return classHeat
	}
	return classText
}

// heatBucket maps a probability in [0, 1] to one of n colours, low to high.
func heatBucket(p float32, n int) int {
	return min(max(int(p*float32(n)), 0), n-1)
}

// frameCount is the number of frames of a trace: the longest pane's events
// plus the starting canvas.
func frameCount(tr *engine.Trace) int {
	n := 0
	for _, h := range tr.Panes {
		n = max(n, len(h.Events))
	}
	return n + 1
}

// stepLabel describes the current frame: "start", "step 12/64", or
// "final" for MDLM's noise-removal step.
func (w *paneWalker) stepLabel(steps int) string {
	ev := w.event()
	switch {
	case ev == nil:
		return fmt.Sprintf("step 0/%d", steps)
	case ev.NoiseRemoval:
		return fmt.Sprintf("final step (%d/%d)", ev.Step, ev.Steps)
	}
	return fmt.Sprintf("step %d/%d", ev.Step, ev.Steps)
}

// totalSteps is the run's scheduled step count as the events report it,
// falling back to the options when the pane has no events.
func totalSteps(tr *engine.Trace, h *engine.History) int {
	if len(h.Events) > 0 {
		return h.Events[0].Steps
	}
	return tr.Header.Options.Steps
}

// forward is how long the model call of frame n's events took (the slowest
// pane in a compare trace); 0 at the start.
func forward(tr *engine.Trace, n int) time.Duration {
	var d time.Duration
	for _, h := range tr.Panes {
		if n >= 1 && n <= len(h.Events) {
			d = max(d, h.Events[n-1].Forward)
		}
	}
	return d
}

// HeatBucket maps a probability in [0, 1] to one of n heat colours, low to
// high, as every renderer colours revealed tokens.
func HeatBucket(p float32, n int) int { return heatBucket(p, n) }
