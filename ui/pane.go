package ui

import (
	"time"

	"diffuapriel/engine"
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
	return p.hist != nil && !p.computing && (n == 0 || p.hist.Events[n-1].Done || p.runErr != nil)
}

// posInfo is what the canvas and inspector know of one position at a step.
type posInfo struct {
	origin int // event that revealed it; -1 prompt or still masked; -2 set by steering
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

// frameAt replays the history up to event n; it never calls the model.
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
	f := &frame{n: n, edits: len(h.Edits), mask: h.Mask}
	cv := h.CanvasAt(n)
	f.tokens, f.fixed = cv.Tokens, h.Initial.Fixed
	f.info = make([]posInfo, len(f.tokens))
	for i := range f.info {
		f.info[i].origin = -1
	}
	ei := 0
	for i := 0; i <= n; i++ {
		for ; ei < len(h.Edits) && h.Edits[ei].Before == i; ei++ {
			e := h.Edits[ei]
			f.info[e.Pos] = posInfo{origin: -2, reveal: engine.Reveal{Pos: e.Pos, Token: e.Token}}
			if e.Token == h.Mask {
				f.info[e.Pos].origin = -1
			}
		}
		if i == n {
			break
		}
		for _, rv := range h.Events[i].Revealed {
			f.info[rv.Pos] = posInfo{origin: i, step: h.Events[i].Step, reveal: rv}
		}
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
	for _, t := range f.tokens {
		if t == h.Mask {
			f.masked++
		}
	}
	if n > 0 {
		f.lastEv = &h.Events[n-1]
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
