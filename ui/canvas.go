package ui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// maskGlyph draws a masked position: one cell, never the text "[MASK]".
const maskGlyph = "░"

// tabWidth is how far a tab in model text advances.
const tabWidth = 4

// segment is a run of one position's text on one line.
type segment struct {
	text string
	pos  int
}

// textLayout places every position's text on wrapped lines, keeping the
// text's own newlines and indentation.
type textLayout struct {
	lines   [][]segment
	posLine []int // first line of each position
	posCol  []int // first column of each position
}

// layoutPieces wraps pieces (one per position) to width columns. A piece
// moves to the next line when it does not fit, unless it is wider than a
// line, in which case it is split across lines.
func layoutPieces(pieces []string, width int) textLayout {
	width = max(width, 1)
	l := textLayout{lines: [][]segment{nil}, posLine: make([]int, len(pieces)), posCol: make([]int, len(pieces))}
	col := 0
	newline := func() {
		l.lines = append(l.lines, nil)
		col = 0
	}
	for pos, piece := range pieces {
		placed := false
		put := func(text string) {
			if !placed {
				l.posLine[pos], l.posCol[pos], placed = len(l.lines)-1, col, true
			}
			l.lines[len(l.lines)-1] = append(l.lines[len(l.lines)-1], segment{text, pos})
			col += ansi.StringWidth(text)
		}
		for k, part := range strings.Split(piece, "\n") {
			if k > 0 {
				newline()
			}
			part = expandTabs(part, col)
			w := ansi.StringWidth(part)
			if col+w > width && col > 0 && w <= width {
				newline()
				if strings.HasPrefix(part, " ") {
					// A soft wrap replaces the word's leading space.
					part, w = part[1:], w-1
				}
			}
			for col+w > width {
				// Wider than what is left of the line: split by cells.
				head := ansi.Truncate(part, width-col, "")
				if head != "" {
					put(head)
					part = part[len(head):]
					w = ansi.StringWidth(part)
				}
				newline()
			}
			if w > 0 {
				put(part)
			}
		}
		if !placed {
			l.posLine[pos], l.posCol[pos] = len(l.lines)-1, col
		}
	}
	return l
}

func expandTabs(s string, col int) string {
	if !strings.Contains(s, "\t") {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		if r == '\t' {
			n := tabWidth - col%tabWidth
			sb.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		sb.WriteRune(r)
		col += ansi.StringWidth(string(r))
	}
	return sb.String()
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
			pieces[i] = maskGlyph
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
	case f.info[pos].origin == -2:
		return s.accent
	case v.heat && f.info[pos].origin >= 0:
		return s.heatStyle(f.info[pos].reveal.Prob)
	}
	return s.text
}

// render draws the laid-out lines, each padded to width.
func (v canvasView) render(s styles, l textLayout, width int) []string {
	out := make([]string, len(l.lines))
	for i, line := range l.lines {
		var sb strings.Builder
		col := 0
		for _, seg := range line {
			sb.WriteString(v.style(s, seg.pos).Render(seg.text))
			col += ansi.StringWidth(seg.text)
		}
		if col < width {
			sb.WriteString(strings.Repeat(" ", width-col))
		}
		out[i] = sb.String()
	}
	return out
}
