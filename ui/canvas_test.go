package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func layoutText(l textLayout) []string {
	var out []string
	for _, line := range l.Lines {
		var sb strings.Builder
		for _, s := range line {
			sb.WriteString(s.Text())
		}
		out = append(out, sb.String())
	}
	return out
}

func TestLayoutKeepsNewlinesAndIndentation(t *testing.T) {
	pieces := []string{"def", " f", "():\n", "    ", "return", " 1", "\n\n", "\tx"}
	l := layoutPieces(pieces, 40)
	got := strings.Join(layoutText(l), "|")
	want := "def f():|    return 1||    x"
	if got != want {
		t.Fatalf("layout %q, want %q", got, want)
	}
	if l.PosLine[3] != 1 || l.PosCol[3] != 0 || l.PosLine[4] != 1 || l.PosCol[4] != 4 {
		t.Fatalf("indentation positions: line %d col %d / line %d col %d", l.PosLine[3], l.PosCol[3], l.PosLine[4], l.PosCol[4])
	}
}

func TestLayoutWrapsAtTokenBoundaries(t *testing.T) {
	pieces := []string{"aaaa", " bbbb", " cc", " dddddddd"}
	l := layoutPieces(pieces, 10)
	got := strings.Join(layoutText(l), "|")
	if got != "aaaa bbbb|cc|dddddddd" {
		t.Fatalf("wrapped %q", got)
	}
	for i, line := range layoutText(l) {
		if w := ansi.StringWidth(line); w > 10 {
			t.Fatalf("line %d is %d cells wide", i, w)
		}
	}
	if l.PosLine[2] != 1 || l.PosCol[2] != 0 {
		t.Fatalf("wrapped token at line %d col %d, want 1 0", l.PosLine[2], l.PosCol[2])
	}
}

func TestLayoutSplitsPiecesWiderThanALine(t *testing.T) {
	pieces := []string{"x", strings.Repeat("y", 12), "界界界"}
	l := layoutPieces(pieces, 5)
	lines := layoutText(l)
	for i, line := range lines {
		if w := ansi.StringWidth(line); w > 5 {
			t.Fatalf("line %d %q is %d cells wide", i, line, w)
		}
	}
	if strings.Join(lines, "") != "x"+strings.Repeat("y", 12)+"界界界" {
		t.Fatalf("splitting lost text: %q", lines)
	}
	if p, ok := l.positionAt(l.PosLine[2], l.PosCol[2]); !ok || p != 2 {
		t.Fatalf("positionAt the wide token's start = %d, %v", p, ok)
	}
}

func TestResizeRewrapsAndFillsTheScreen(t *testing.T) {
	cfg := testConfig(t)
	cfg.length = 64
	h := newHarness(t, cfg, 120, 30)
	h.done()
	h.press("G")
	check := func(w, hgt int) []string {
		t.Helper()
		h.apply(tearesize(w, hgt))
		lines := strings.Split(h.a.View(), "\n")
		if len(lines) != hgt {
			t.Fatalf("%dx%d: %d lines", w, hgt, len(lines))
		}
		for i, l := range lines {
			if ansi.StringWidth(l) != w {
				t.Fatalf("%dx%d: line %d is %d cells: %q", w, hgt, i, ansi.StringWidth(l), plain(l))
			}
		}
		return lines
	}
	check(120, 30)
	wide := layoutPieces(framePieces(cfg.tok, h.a.frameOf(h.a.panes[0])), h.a.canvasWidth())
	check(60, 20)
	narrow := layoutPieces(framePieces(cfg.tok, h.a.frameOf(h.a.panes[0])), h.a.canvasWidth())
	if len(narrow.Lines) <= len(wide.Lines) {
		t.Fatalf("narrowing did not re-wrap: %d lines wide, %d narrow", len(wide.Lines), len(narrow.Lines))
	}
	// The text on screen is the re-wrapped text.
	if !strings.Contains(plain(h.a.View()), layoutText(narrow)[0]) {
		t.Fatal("the narrow screen does not show the re-wrapped first line")
	}
}

func TestSmallTerminalShowsAMessage(t *testing.T) {
	h := newHarness(t, testConfig(t), 80, 24)
	h.done()
	for _, size := range [][2]int{{59, 20}, {60, 19}, {30, 10}} {
		h.apply(tearesize(size[0], size[1]))
		v := plain(h.a.View())
		if !strings.Contains(v, "needs at least") || !strings.Contains(v, "60×20") || strings.Contains(v, "controls") {
			t.Fatalf("%dx%d: %q", size[0], size[1], v)
		}
		if n := len(strings.Split(h.a.View(), "\n")); n != size[1] {
			t.Fatalf("%dx%d: %d lines", size[0], size[1], n)
		}
	}
	h.apply(tearesize(60, 20))
	if strings.Contains(plain(h.a.View()), "needs at least") {
		t.Fatal("60x20 should draw the playground")
	}
}

func TestLayoutPlacesACharacterWiderThanTheLine(t *testing.T) {
	// One column, a two-cell character: it goes on a line of its own
	// rather than looping for ever looking for room.
	l := layoutPieces([]string{"a", "界", "b"}, 1)
	if got := strings.Join(layoutText(l), "|"); got != "a|界|b" {
		t.Fatalf("layout %q", got)
	}
}
