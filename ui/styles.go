package ui

import (
	"github.com/charmbracelet/lipgloss"

	"diffuapriel/export"
	"diffuapriel/themes"
)

// styles are the lipgloss styles built from a theme. Every state that
// matters is also carried by an attribute (reverse, bold, faint,
// underline), so in monochrome mode (NO_COLOR) the states stay visible.
type styles struct {
	theme                      themes.Theme
	mono                       bool
	text, dim, mask            lipgloss.Style
	fresh, cursor              lipgloss.Style
	heat                       []lipgloss.Style
	accent, label, value       lipgloss.Style
	focused, err               lipgloss.Style
	panel, panelFocused        lipgloss.Style
	title, bar, barSep         lipgloss.Style
	barErr, barRec             lipgloss.Style
	timelineDone, timelineTodo lipgloss.Style
}

// newStyles builds the styles of a theme; mono drops every colour and
// keeps the attributes.
func newStyles(t themes.Theme, mono bool) styles {
	fg := func(st lipgloss.Style, c lipgloss.Color) lipgloss.Style {
		if mono {
			return st
		}
		return st.Foreground(c)
	}
	bg := func(st lipgloss.Style, c lipgloss.Color) lipgloss.Style {
		if mono {
			return st
		}
		return st.Background(c)
	}
	plain := lipgloss.NewStyle()
	s := styles{theme: t, mono: mono}
	s.text = fg(plain, t.Text)
	s.dim = fg(plain, t.Dim).Faint(true)
	s.mask = fg(plain, t.Mask)
	s.fresh = bg(fg(plain, t.FreshFG), t.FreshBG).Bold(true).Reverse(mono)
	s.cursor = bg(fg(plain, t.CursorFG), t.CursorBG).Underline(true)
	if !mono {
		for _, c := range t.Heat {
			s.heat = append(s.heat, fg(plain, c))
		}
	}
	s.accent = fg(plain, t.Accent).Bold(true)
	s.label = fg(plain, t.Dim)
	s.value = fg(plain, t.Text)
	s.focused = fg(plain, t.Accent).Bold(true).Reverse(true)
	s.err = fg(plain, t.Error).Bold(true)
	s.panel = plain.Border(lipgloss.RoundedBorder())
	s.panelFocused = s.panel.Border(lipgloss.ThickBorder())
	if !mono {
		s.panel = s.panel.BorderForeground(t.Border)
		s.panelFocused = s.panel.BorderForeground(t.Accent)
	}
	s.title = fg(plain, t.Accent).Bold(true)
	s.bar = bg(fg(plain, t.Text), t.Bar).Reverse(mono)
	s.barSep = bg(fg(plain, t.Dim), t.Bar).Reverse(mono)
	s.barErr = bg(fg(plain, t.Error), t.Bar).Bold(true).Reverse(mono)
	s.barRec = bg(fg(plain, t.Error), t.Bar).Bold(true).Reverse(mono)
	s.timelineDone = fg(plain, t.Accent)
	s.timelineTodo = fg(plain, t.Border).Faint(mono)
	return s
}

// heatStyle colours a revealed token by its probability in [0, 1].
func (s styles) heatStyle(p float32) lipgloss.Style {
	if len(s.heat) == 0 {
		return s.text
	}
	return s.heat[export.HeatBucket(p, len(s.heat))]
}
