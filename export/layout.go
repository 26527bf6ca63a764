package export

import (
	"strings"

	"github.com/mattn/go-runewidth"
)

// maskGlyph draws a still-masked position, one cell, as the playground does.
const maskGlyph = "░"

// tabWidth is how far a tab in model text advances.
const tabWidth = 4

// segment is one position's text on one line.
type segment struct {
	text string
	pos  int
	col  int
}

// wrap lays pieces (one string per position) out in lines of at most width
// cells, keeping the text's newlines. A piece that does not fit moves to
// the next line; one wider than a line is split.
func wrap(pieces []string, width int) [][]segment {
	width = max(width, 1)
	lines := [][]segment{nil}
	col := 0
	put := func(text string, pos int) {
		lines[len(lines)-1] = append(lines[len(lines)-1], segment{text, pos, col})
		col += runewidth.StringWidth(text)
	}
	newline := func() {
		lines = append(lines, nil)
		col = 0
	}
	for pos, piece := range pieces {
		for k, part := range strings.Split(piece, "\n") {
			if k > 0 {
				newline()
			}
			part = expandTabs(part, col)
			w := runewidth.StringWidth(part)
			if col > 0 && col+w > width && w <= width {
				newline()
			}
			for col+w > width {
				head := runewidth.Truncate(part, width-col, "")
				if head == "" && col == 0 { // one character wider than the line
					head = part[:firstRuneLen(part)]
				}
				if head != "" {
					put(head, pos)
					part = part[len(head):]
					w = runewidth.StringWidth(part)
				}
				newline()
			}
			if part != "" {
				put(part, pos)
			}
		}
	}
	return lines
}

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
		col += runewidth.RuneWidth(r)
	}
	return sb.String()
}
