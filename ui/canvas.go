package ui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"diffuapriel/export"
)

// textLayout places every position's text on wrapped lines, keeping the
// text's own newlines and indentation: the exporters' layout, so a GIF
// wraps exactly as the playground does.
type textLayout struct{ export.Layout }

func layoutPieces(pieces []string, width int) textLayout {
	return textLayout{export.Wrap(pieces, width)}
}

// canvasView is everything needed to draw one pane's text at a step.
type canvasView struct {
	frame  *frame
	pieces []string
	cursor int // position under the inspector's cursor, -1 for none
	heat   bool
}

// framePieces renders a frame's tokens as terminal-safe text, one string per
// position, with the mask glyph for masked positions.
func framePieces(tok tokenRenderer, f *frame) []string {
	pieces := tok.Pieces(f.tokens)
	for i, t := range f.tokens {
		if t == f.mask {
			pieces[i] = export.MaskGlyph
		}
	}
	return pieces
}

func (v canvasView) style(s styles, pos int) lipgloss.Style {
	f := v.frame
	switch {
	case pos == v.cursor:
		return s.cursor
	case f.fixed[pos]:
		return s.dim
	case f.tokens[pos] == f.mask:
		return s.mask
	case f.n > 0 && f.info[pos].origin == f.n-1:
		return s.fresh
	case f.info[pos].origin == export.OriginSteered:
		return s.accent
	case v.heat && f.info[pos].origin >= 0:
		return s.heatStyle(f.info[pos].reveal.Prob)
	}
	return s.text
}

// render draws the laid-out lines, each padded to width.
func (v canvasView) render(s styles, l textLayout, width int) []string {
	out := make([]string, len(l.Lines))
	for i, line := range l.Lines {
		var sb strings.Builder
		col := 0
		for _, seg := range line {
			sb.WriteString(v.style(s, seg.Pos()).Render(seg.Text()))
			col += ansi.StringWidth(seg.Text())
		}
		if col < width {
			sb.WriteString(strings.Repeat(" ", width-col))
		}
		out[i] = sb.String()
	}
	return out
}
