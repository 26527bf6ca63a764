package ui

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"diffuapriel/engine"
)

// settings are the generation's live controls.
type settings struct {
	opts   engine.Options
	length int
	model  int // index into the model list (single-pane mode)
}

// settingsMsg announces changed settings; the app restarts the generation
// (and reloads when the model changed).
type settingsMsg struct {
	settings     settings
	modelChanged bool
}

// control is one row of the controls panel.
type control struct {
	name   string
	show   func(s *settings) string
	adjust func(s *settings, dir int)
}

var (
	stepLadder   = []int{1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024}
	topKLadder   = []int{0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000}
	blockLadder  = []int{0, 4, 8, 16, 32, 64, 128, 256}
	lengthLadder = []int{0, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024}
)

// climb moves v one rung along a sorted ladder in direction dir; a value
// between rungs moves to the neighbouring rung.
func climb(ladder []int, v, dir int) int {
	if dir > 0 {
		for _, r := range ladder {
			if r > v {
				return r
			}
		}
		return ladder[len(ladder)-1]
	}
	for i := len(ladder) - 1; i >= 0; i-- {
		if ladder[i] < v {
			return ladder[i]
		}
	}
	return ladder[0]
}

// nudge adds dir*step to v within [lo, hi], rounded to the step.
func nudge(v float64, dir int, step, lo, hi float64) float64 {
	v = math.Round((v+float64(dir)*step)/step) * step
	return math.Min(hi, math.Max(lo, v))
}

func cycle(names []string, cur string, dir int) string {
	for i, n := range names {
		if n == cur {
			return names[(i+dir+len(names))%len(names)]
		}
	}
	return names[0]
}

func offOr(v int, off string) string {
	if v <= 0 {
		return off
	}
	return fmt.Sprint(v)
}

// controls is the controls panel: a focusable list of settings adjusted
// with the arrow keys. Every change is announced with a settingsMsg.
type controls struct {
	s          settings
	rows       []control
	row        int
	focused    bool
	modelNames []string // empty in compare mode: panes keep their models
}

func newControls(s settings, modelNames []string) controls {
	c := controls{s: s, modelNames: modelNames}
	if len(modelNames) > 0 {
		c.rows = append(c.rows, control{"model",
			func(s *settings) string { return modelNames[s.model] },
			func(s *settings, dir int) { s.model = (s.model + dir + len(modelNames)) % len(modelNames) }})
	}
	c.rows = append(c.rows,
		control{"steps", func(s *settings) string { return fmt.Sprint(s.opts.Steps) },
			func(s *settings, dir int) { s.opts.Steps = climb(stepLadder, s.opts.Steps, dir) }},
		control{"schedule", func(s *settings) string { return s.opts.Schedule },
			func(s *settings, dir int) { s.opts.Schedule = cycle(engine.ScheduleNames, s.opts.Schedule, dir) }},
		control{"sampler", func(s *settings) string { return s.opts.Sampler },
			func(s *settings, dir int) { s.opts.Sampler = cycle(engine.SamplerNames, s.opts.Sampler, dir) }},
		control{"temperature", func(s *settings) string { return fmt.Sprintf("%.2f", s.opts.Temperature) },
			func(s *settings, dir int) { s.opts.Temperature = nudge(s.opts.Temperature, dir, 0.1, 0, 2) }},
		control{"top-k", func(s *settings) string { return offOr(s.opts.TopK, "off") },
			func(s *settings, dir int) { s.opts.TopK = climb(topKLadder, s.opts.TopK, dir) }},
		control{"top-p", func(s *settings) string {
			if s.opts.TopP <= 0 || s.opts.TopP >= 1 {
				return "off"
			}
			return fmt.Sprintf("%.2f", s.opts.TopP)
		}, func(s *settings, dir int) { s.opts.TopP = nudge(s.opts.TopP, dir, 0.05, 0.05, 1) }},
		control{"threshold", func(s *settings) string { return fmt.Sprintf("%.2f", s.opts.Threshold) },
			func(s *settings, dir int) { s.opts.Threshold = nudge(s.opts.Threshold, dir, 0.05, 0.05, 1) }},
		control{"block length", func(s *settings) string { return offOr(s.opts.BlockLength, "off") },
			func(s *settings, dir int) { s.opts.BlockLength = climb(blockLadder, s.opts.BlockLength, dir) }},
		control{"length", func(s *settings) string { return fmt.Sprint(s.length) },
			func(s *settings, dir int) { s.length = climb(lengthLadder, s.length, dir) }},
		control{"seed", func(s *settings) string { return fmt.Sprint(s.opts.Seed) },
			func(s *settings, dir int) {
				if dir > 0 || s.opts.Seed > 0 {
					s.opts.Seed = uint64(int64(s.opts.Seed) + int64(dir))
				}
			}},
	)
	return c
}

func (c *controls) announce(modelChanged bool) tea.Cmd {
	s := c.s
	return func() tea.Msg { return settingsMsg{settings: s, modelChanged: modelChanged} }
}

// update handles the keys that change settings: arrows when focused, and
// the global reroll / next-model keys.
func (c *controls) update(msg tea.KeyMsg, km keyMap) (tea.Cmd, bool) {
	switch {
	case key.Matches(msg, km.Reroll):
		c.s.opts.Seed = rand.Uint64N(1_000_000) + 1
		return c.announce(false), true
	case key.Matches(msg, km.NextModel) && len(c.modelNames) > 1:
		c.s.model = (c.s.model + 1) % len(c.modelNames)
		return c.announce(true), true
	case !c.focused:
		return nil, false
	case key.Matches(msg, km.ControlUp):
		c.row = (c.row - 1 + len(c.rows)) % len(c.rows)
	case key.Matches(msg, km.ControlDown):
		c.row = (c.row + 1) % len(c.rows)
	case key.Matches(msg, km.ControlDec), key.Matches(msg, km.ControlInc):
		dir := 1
		if key.Matches(msg, km.ControlDec) {
			dir = -1
		}
		before := c.s
		c.rows[c.row].adjust(&c.s, dir)
		if c.s == before {
			return nil, true
		}
		return c.announce(c.s.model != before.model), true
	default:
		return nil, false
	}
	return nil, true
}

// clickRow focuses the row under a mouse click (row counted from the
// panel's first control line).
func (c *controls) clickRow(row int) {
	if row >= 0 && row < len(c.rows) {
		c.focused, c.row = true, row
	}
}

func (c *controls) view(s styles, width, height int) string {
	var lines []string
	title := "controls"
	if c.focused {
		title += " (←/→ adjust)"
	}
	lines = append(lines, s.title.Render(ansi.Truncate(title, width, "…")))
	for i, r := range c.rows {
		val := r.show(&c.s)
		nameW := 12
		room := max(width-nameW-2, 1)
		val = ansi.Truncate(val, room, "…")
		line := fmt.Sprintf("%-*s %s", nameW, r.name, val)
		switch {
		case c.focused && i == c.row:
			line = s.focused.Render(padRight("▸"+line, width))
		case r.name == "threshold" && c.s.opts.Sampler != "threshold":
			// Only the threshold sampler reads it: drawn dim.
			line = " " + s.label.Render(fmt.Sprintf("%-*s ", nameW, r.name)) + s.dim.Render(val)
		default:
			line = " " + s.label.Render(fmt.Sprintf("%-*s ", nameW, r.name)) + s.value.Render(val)
		}
		lines = append(lines, line)
	}
	if len(lines) > height {
		// Keep the selected row visible in a short panel.
		start := min(max(c.row+2-height, 0), len(lines)-height)
		lines = append(lines[:1], lines[start+1:start+height]...)
	}
	return strings.Join(lines, "\n")
}

func padRight(s string, width int) string {
	if w := ansi.StringWidth(s); w < width {
		return s + strings.Repeat(" ", width-w)
	}
	return ansi.Truncate(s, width, "")
}
