package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"diffuapriel/engine"
	"diffuapriel/export"
)

// steerMsg asks the app to change a position at the step on screen and
// resume the diffusion from there (token = the mask id re-masks).
type steerMsg struct {
	pane, pos int
	token     int32
}

// inspector moves a cursor over positions and shows what the history
// knows of the one under it; its number keys steer.
type inspector struct {
	open bool
	pos  int
	pane int
}

// candidatesAt lists the alternatives the model offered for pos at the
// step on screen: for a revealed token, those of the step that revealed
// it; for a masked one, the newest step that scored it.
func candidatesAt(f *frame, pos int) []engine.Candidate {
	if pos < 0 || pos >= len(f.tokens) {
		return nil
	}
	if f.tokens[pos] == f.mask {
		return f.cands[pos].Top
	}
	if f.info[pos].origin >= 0 {
		return f.info[pos].reveal.Top
	}
	return nil
}

// toggle opens the inspector on the first generated position.
func (in *inspector) toggle(f *frame) {
	in.open = !in.open
	if in.open && f != nil && (in.pos >= len(f.tokens) || in.pos < 0 || (in.pos == 0 && f.fixed[0])) {
		in.pos = 0
		for in.pos < len(f.fixed)-1 && f.fixed[in.pos] {
			in.pos++
		}
	}
}

// update handles cursor movement and steering keys while open.
func (in *inspector) update(msg tea.KeyMsg, km keyMap, f *frame, l textLayout, panes int) (tea.Cmd, bool) {
	if !in.open || f == nil {
		return nil, false
	}
	last := len(f.tokens) - 1
	switch {
	case key.Matches(msg, km.CursorLeft):
		in.pos = max(in.pos-1, 0)
	case key.Matches(msg, km.CursorRight):
		in.pos = min(in.pos+1, last)
	case key.Matches(msg, km.CursorUp), key.Matches(msg, km.CursorDown):
		dir := 1
		if key.Matches(msg, km.CursorUp) {
			dir = -1
		}
		in.pos = l.positionNear(l.PosLine[in.pos]+dir, l.PosCol[in.pos], in.pos)
	case key.Matches(msg, km.NextPane):
		in.pane = (in.pane + 1) % max(panes, 1)
	case key.Matches(msg, km.Pin):
		k := int(msg.Runes[0] - '1')
		cands := candidatesAt(f, in.pos)
		if k < 0 || k >= len(cands) || f.fixed[in.pos] || cands[k].Token == f.tokens[in.pos] {
			return nil, true
		}
		steer := steerMsg{pane: in.pane, pos: in.pos, token: cands[k].Token}
		return func() tea.Msg { return steer }, true
	case key.Matches(msg, km.Remask):
		if f.fixed[in.pos] || f.tokens[in.pos] == f.mask {
			return nil, true
		}
		steer := steerMsg{pane: in.pane, pos: in.pos, token: f.mask}
		return func() tea.Msg { return steer }, true
	default:
		return nil, false
	}
	return nil, true
}

// positionNear finds the position on line whose start is closest to col at
// or before it; fallback when line does not exist.
func (l textLayout) positionNear(line, col, fallback int) int {
	if line < 0 || line >= len(l.Lines) {
		return fallback
	}
	best := -1
	for pos := range l.PosLine {
		if l.PosLine[pos] != line {
			continue
		}
		if best < 0 || l.PosCol[pos] <= col {
			best = pos
		}
	}
	if best < 0 {
		return fallback
	}
	return best
}

// displayToken shows a token's text with its invisible characters made
// visible.
func displayToken(piece string) string {
	if piece == "" {
		return "“” (no printable text)"
	}
	r := strings.NewReplacer("\n", "⏎", "\t", "⇥")
	return "“" + r.Replace(piece) + "”"
}

func (in *inspector) view(s styles, tok tokenRenderer, f *frame, width, height int, steerable bool) string {
	if f == nil || in.pos >= len(f.tokens) {
		return ""
	}
	pos := in.pos
	what := "masked"
	if f.tokens[pos] != f.mask {
		what = displayToken(tok.Pieces([]int32{f.tokens[pos]})[0]) + fmt.Sprintf(" (id %d)", f.tokens[pos])
	}
	pi := f.info[pos]
	var origin string
	switch {
	case f.fixed[pos]:
		origin = "prompt (fixed)"
	case pi.origin == export.OriginSteered:
		origin = "pinned by you"
	case pi.origin >= 0:
		origin = fmt.Sprintf("revealed at step %d (event %d) · score %s · p %s", pi.step, pi.origin+1,
			formatScore(pi.reveal.Score), formatScore(pi.reveal.Prob))
	case len(candidatesAt(f, pos)) > 0:
		origin = "still masked; the model's candidates so far:"
	default:
		origin = "still masked"
	}
	lines := []string{
		s.title.Render("inspector") + "  " + s.value.Render(truncate(fmt.Sprintf("pos %d · %s", pos, what), width-11)),
		"  " + s.label.Render(truncate(origin, width-2)),
	}
	cands := candidatesAt(f, pos)
	if len(cands) == 0 && !f.fixed[pos] && pi.origin != export.OriginSteered && len(lines) < height {
		lines = append(lines, s.label.Render("  no candidates recorded for this position at this step"))
	}
	barW := max(width-34, 4)
	for i, c := range cands {
		if i >= 5 || len(lines) >= height {
			break
		}
		name := ansi.Truncate(displayToken(tok.Pieces([]int32{c.Token})[0]), 18, "…")
		bar := strings.Repeat("█", int(c.Prob*float32(barW)+0.5))
		row := fmt.Sprintf("  %d %-*s %7s ", i+1, 18+len(name)-ansi.StringWidth(name), name, formatScore(c.Prob))
		style := s.value
		if c.Token == f.tokens[pos] {
			style = s.accent
		}
		lines = append(lines, style.Render(row)+s.heatStyle(c.Prob).Render(bar))
	}
	if !f.fixed[pos] && len(lines) < height {
		hint := "  1-5 pin candidate · x re-mask · steering resumes from this step"
		if !steerable {
			hint = "  a replayed run cannot be steered: steering needs the model"
		}
		lines = append(lines, s.label.Render(truncate(hint, width)))
	}
	return strings.Join(lines, "\n")
}
