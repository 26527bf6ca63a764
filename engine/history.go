package engine

import "fmt"

// Edit is a steering change made between events: the position takes Token
// (the mask token re-masks it) before event number Before runs.
type Edit struct {
	Before int   `json:"before"`
	Pos    int   `json:"pos"`
	Token  int32 `json:"token"`
}

// History keeps a generation's starting canvas, every event and every
// steering edit, so any step can be shown again without recomputing.
type History struct {
	Initial Canvas      `json:"canvas"`
	Mask    int32       `json:"mask_token_id"`
	Events  []StepEvent `json:"-"`
	Edits   []Edit      `json:"-"`
}

// NewHistory starts a history at the given canvas.
func NewHistory(initial Canvas, mask int32) *History {
	return &History{Initial: initial.Clone(), Mask: mask}
}

// Append records the next event; its Index must follow the last one.
func (h *History) Append(ev StepEvent) error {
	if ev.Index != len(h.Events) {
		return fmt.Errorf("event index %d does not follow %d recorded events", ev.Index, len(h.Events))
	}
	h.Events = append(h.Events, ev)
	return nil
}

// Steer drops every event from index `at` on and records an edit there:
// the generation will resume from the canvas at `at` with this change.
func (h *History) Steer(at, pos int, token int32) error {
	if at < 0 || at > len(h.Events) {
		return fmt.Errorf("steer at %d outside 0..%d", at, len(h.Events))
	}
	if pos < 0 || pos >= len(h.Initial.Tokens) || h.Initial.Fixed[pos] {
		return fmt.Errorf("position %d cannot be steered", pos)
	}
	h.Events = h.Events[:at]
	kept := h.Edits[:0]
	for _, e := range h.Edits {
		if e.Before <= at {
			kept = append(kept, e)
		}
	}
	h.Edits = append(kept, Edit{Before: at, Pos: pos, Token: token})
	return nil
}

// CanvasAt is the state after the first n events (0: the start), with the
// edits made before event n applied.
func (h *History) CanvasAt(n int) Canvas {
	c := h.Initial.Clone()
	n = min(max(n, 0), len(h.Events))
	ei := 0
	for i := 0; i <= n; i++ {
		for ; ei < len(h.Edits) && h.Edits[ei].Before == i; ei++ {
			c.Tokens[h.Edits[ei].Pos] = h.Edits[ei].Token
		}
		if i == n {
			break
		}
		for _, rv := range h.Events[i].Revealed {
			c.Tokens[rv.Pos] = rv.Token
		}
	}
	return c
}

// ScheduledSteps is how many scheduled steps the first n events took, which
// is where a run resumed after them must Seek to.
func (h *History) ScheduledSteps(n int) int {
	if n <= 0 || len(h.Events) == 0 {
		return 0
	}
	return h.Events[min(n, len(h.Events))-1].Step
}

// Origin finds the event (among the first n) that revealed pos, or -1.
func (h *History) Origin(pos, n int) (int, Reveal) {
	n = min(n, len(h.Events))
	for i := n - 1; i >= 0; i-- {
		for _, rv := range h.Events[i].Revealed {
			if rv.Pos == pos {
				return i, rv
			}
		}
		if h.editedBefore(pos, i) {
			break
		}
	}
	return -1, Reveal{}
}

func (h *History) editedBefore(pos, i int) bool {
	for _, e := range h.Edits {
		if e.Before == i && e.Pos == pos {
			return true
		}
	}
	return false
}
