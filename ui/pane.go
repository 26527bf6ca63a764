package ui

import (
	"time"

	"diffuapriel/engine"
	"diffuapriel/export"
	"diffuapriel/models"
)

// pane is one model's generation: what its worker loaded and every event it
// produced. Panes are plain state owned by the app; all computation happens
// in the pane's worker.
type pane struct {
	src source

	loading             bool
	loadDone, loadTotal int64
	loadErr             error

	cfg               *models.Config
	params            int64
	backend, device   string
	memUsed, memTotal uint64

	hist      *engine.History
	gen       int  // generation whose events are accepted
	computing bool // the worker is producing events for gen
	runErr    error

	cache *frame // the last frame built, reused while nothing changed

	recorded bool // replayed from a trace: complete, no worker behind it
}

func (p *pane) ready() bool { return p.cfg != nil && p.loadErr == nil }

func (p *pane) events() int {
	if p.hist == nil {
		return 0
	}
	return len(p.hist.Events)
}

// finished reports whether the generation ran to its end.
func (p *pane) finished() bool {
	n := p.events()
	return p.recorded || p.hist != nil && !p.computing && (n == 0 || p.hist.Events[n-1].Done || p.runErr != nil)
}

// posInfo is what the canvas and inspector know of one position at a step.
type posInfo struct {
	origin int // event that revealed it, export.OriginNone (prompt, still masked) or export.OriginSteered
	step   int // schedule step of that event
	reveal engine.Reveal
}

// frame is a pane's state after its first n events.
type frame struct {
	n      int
	edits  int // len(Edits) when built
	tokens []int32
	fixed  []bool
	info   []posInfo
	masked int
	lastEv *engine.StepEvent // event n-1, nil at the start
	cands  map[int]engine.PositionStats
	mask   int32
}

// frameAt replays the history up to event n (the export package's frame
// walker, so the playground and the exporters show the same frames); it
// never calls the model.
func (p *pane) frameAt(n int) *frame {
	h := p.hist
	if h == nil {
		return nil
	}
	n = min(max(n, 0), len(h.Events))
	// Events after n do not change the frame; steering and restarts, which
	// rewrite the history, drop the cache.
	if c := p.cache; c != nil && c.n == n && c.edits == len(h.Edits) {
		return c
	}
	w := export.NewWalker(h)
	w.Seek(n)
	f := &frame{n: n, edits: len(h.Edits), mask: h.Mask, tokens: w.Tokens(), fixed: h.Initial.Fixed,
		masked: w.Masked(), lastEv: w.Event()}
	f.info = make([]posInfo, len(f.tokens))
	for pos := range f.info {
		pi := posInfo{origin: w.Origin(pos), reveal: w.Reveal(pos)}
		if pi.origin >= 0 {
			pi.step = h.Events[pi.origin].Step
		}
		f.info[pos] = pi
	}
	// Candidates of positions still masked: the newest event that reported
	// each one (samplers that query every masked position report them all).
	f.cands = map[int]engine.PositionStats{}
	for i := n - 1; i >= 0; i-- {
		for _, st := range h.Events[i].Candidates {
			if _, seen := f.cands[int(st.Pos)]; !seen && f.tokens[st.Pos] == h.Mask {
				f.cands[int(st.Pos)] = st
			}
		}
	}
	p.cache = f
	return f
}

// paneStats summarise the first n events for the compare view.
type paneStats struct {
	calls      int
	forward    time.Duration
	revealed   int
	perStep    time.Duration
	tokensPerS float64
}

func (p *pane) stats(n int) paneStats {
	var s paneStats
	if p.hist == nil {
		return s
	}
	for _, ev := range p.hist.Events[:min(n, len(p.hist.Events))] {
		if ev.ModelCalled {
			s.calls++
			s.forward += ev.Forward
		}
		s.revealed += len(ev.Revealed)
	}
	if s.calls > 0 {
		s.perStep = s.forward / time.Duration(s.calls)
	}
	if s.forward > 0 {
		s.tokensPerS = float64(s.revealed) / s.forward.Seconds()
	}
	return s
}
