package export

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// maskGlyph draws a still-masked position, one cell, as the playground does.
const maskGlyph = "░"

// MaskGlyph is the one-cell glyph of a still-masked position, shared by the
// playground, the GIF and the HTML page.
const MaskGlyph = maskGlyph

// tabWidth is how far a tab in model text advances.
const tabWidth = 4

// Segment is a run of one position's text on one line, starting at a
// column. Widths are terminal cells as charmbracelet/x/ansi counts them
// (what lipgloss draws with), so the playground and the exporters wrap a
// text identically.
type Segment struct {
	text string
	pos  int
	col  int
}

type segment = Segment

// Text is the segment's text; Pos the position it belongs to; Col its
// first column.
func (s Segment) Text() string { return s.text }
func (s Segment) Pos() int     { return s.pos }
func (s Segment) Col() int     { return s.col }

// Layout is a text wrapped to a width: its lines, and for each position
// the line and column where its text starts (for a position with no
// visible text, where it would start).
type Layout struct {
	Lines   [][]Segment
	PosLine []int
	PosCol  []int
}

// Wrap lays pieces (one string per position) out in lines of at most width
// cells, keeping the text's own newlines and indentation. A piece that
// does not fit moves to the next line, and the space it starts with gives
// way to the line break; a piece wider than a line is split by cells.
func Wrap(pieces []string, width int) Layout {
	width = max(width, 1)
	l := Layout{Lines: [][]Segment{nil}, PosLine: make([]int, len(pieces)), PosCol: make([]int, len(pieces))}
	col := 0
	newline := func() {
		l.Lines = append(l.Lines, nil)
		col = 0
	}
	for pos, piece := range pieces {
		placed := false
		put := func(text string) {
			if !placed {
				l.PosLine[pos], l.PosCol[pos], placed = len(l.Lines)-1, col, true
			}
			l.Lines[len(l.Lines)-1] = append(l.Lines[len(l.Lines)-1], Segment{text, pos, col})
			col += ansi.StringWidth(text)
		}
		for k, part := range strings.Split(piece, "\n") {
			if k > 0 {
				newline()
			}
			part = expandTabs(part, col)
			w := ansi.StringWidth(part)
			if col > 0 && col+w > width && w <= width {
				newline()
				if strings.HasPrefix(part, " ") {
					// A soft wrap replaces the word's leading space.
					part, w = part[1:], w-1
				}
			}
			for col+w > width {
				head := ansi.Truncate(part, width-col, "")
				if head == "" && col == 0 { // one character wider than the line
					head = part[:firstRuneLen(part)]
				}
				if head != "" {
					put(head)
					part = part[len(head):]
					w = ansi.StringWidth(part)
				}
				newline()
			}
			if part != "" {
				put(part)
			}
		}
		if !placed {
			l.PosLine[pos], l.PosCol[pos] = len(l.Lines)-1, col
		}
	}
	return l
}

// wrap is Wrap's lines, what the GIF draws.
func wrap(pieces []string, width int) [][]segment { return Wrap(pieces, width).Lines }

func firstRuneLen(s string) int {
	for i := range s {
		if i > 0 {
			return i
		}
	}
	return len(s)
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
