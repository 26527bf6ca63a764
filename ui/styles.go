package ui

import (
	"github.com/charmbracelet/lipgloss"

	"diffuapriel/themes"
)

// styles are the lipgloss styles built from a theme. Every state that
// matters is also carried by an attribute (reverse, bold, faint,
// underline), so it stays visible when colours are off (NO_COLOR).
type styles struct {
	theme                      themes.Theme
	text, dim, mask            lipgloss.Style
	fresh, cursor              lipgloss.Style
	heat                       []lipgloss.Style
	accent, label, value       lipgloss.Style
	focused, err               lipgloss.Style
	panel, panelFocused        lipgloss.Style
	title, bar, barSep         lipgloss.Style
	timelineDone, timelineTodo lipgloss.Style
}

func newStyles(t themes.Theme) styles {
	s := styles{theme: t}
	s.text = lipgloss.NewStyle().Foreground(t.Text)
	s.dim = lipgloss.NewStyle().Foreground(t.Dim).Faint(true)
	s.mask = lipgloss.NewStyle().Foreground(t.Mask)
	s.fresh = lipgloss.NewStyle().Foreground(t.FreshFG).Background(t.FreshBG).Bold(true)
	s.cursor = lipgloss.NewStyle().Foreground(t.CursorFG).Background(t.CursorBG).Reverse(false).Underline(true)
	for _, c := range t.Heat {
		s.heat = append(s.heat, lipgloss.NewStyle().Foreground(c))
	}
	s.accent = lipgloss.NewStyle().Foreground(t.Accent).Bold(true)
	s.label = lipgloss.NewStyle().Foreground(t.Dim)
	s.value = lipgloss.NewStyle().Foreground(t.Text)
	s.focused = lipgloss.NewStyle().Foreground(t.Accent).Bold(true).Reverse(true)
	s.err = lipgloss.NewStyle().Foreground(t.Error).Bold(true)
	s.panel = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(t.Border)
	s.panelFocused = s.panel.BorderForeground(t.Accent)
	s.title = lipgloss.NewStyle().Foreground(t.Accent).Bold(true)
	s.bar = lipgloss.NewStyle().Foreground(t.Text).Background(t.Bar)
	s.barSep = lipgloss.NewStyle().Foreground(t.Dim).Background(t.Bar)
	s.timelineDone = lipgloss.NewStyle().Foreground(t.Accent)
	s.timelineTodo = lipgloss.NewStyle().Foreground(t.Border)
	return s
}

// heatStyle colours a revealed token by its probability in [0, 1].
func (s styles) heatStyle(p float32) lipgloss.Style {
	if len(s.heat) == 0 {
		return s.text
	}
	i := int(p * float32(len(s.heat)))
	return s.heat[min(max(i, 0), len(s.heat)-1)]
}
