package ui

import (
	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// promptMsg carries an edited prompt to the app, which checks it against
// every pane's model before restarting.
type promptMsg struct{ prompt string }

// editor is the prompt and infill editor: a textarea where "[MASK:n]"
// marks n positions for the model to fill in.
type editor struct {
	open bool
	ta   textarea.Model
	err  string // why the last apply was refused
}

func newEditor() editor {
	ta := textarea.New()
	ta.Placeholder = "Type a prompt. [MASK:n] marks n tokens to fill in; generation continues after the text."
	ta.ShowLineNumbers = false
	ta.CharLimit = 0
	ta.MaxHeight = 0
	ta.Cursor.SetMode(cursor.CursorStatic)
	return editor{ta: ta}
}

func (e *editor) start(prompt string, width, height int) tea.Cmd {
	e.open, e.err = true, ""
	e.ta.SetValue(prompt)
	e.resize(width, height)
	return e.ta.Focus()
}

func (e *editor) resize(width, height int) {
	e.ta.SetWidth(max(width, 10))
	e.ta.SetHeight(max(height, 3))
}

func (e *editor) close() {
	e.open = false
	e.ta.Blur()
}

// refuse keeps the editor open with a reason (from the app's check).
func (e *editor) refuse(reason string) { e.err = reason }

func (e *editor) update(msg tea.Msg, km keyMap) tea.Cmd {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(k, km.Apply):
			prompt := e.ta.Value()
			return func() tea.Msg { return promptMsg{prompt: prompt} }
		case key.Matches(k, km.Cancel):
			e.close()
			return nil
		}
	}
	var cmd tea.Cmd
	e.ta, cmd = e.ta.Update(msg)
	return cmd
}

func (e *editor) view(s styles, width int) string {
	hint := s.label.Render("ctrl+s apply · esc cancel · [MASK:n] = n tokens to infill, [MASK] = one")
	parts := []string{s.title.Render("prompt"), e.ta.View(), hint}
	if e.err != "" {
		parts = append(parts, s.err.Render(truncate(e.err, width)))
	}
	return lipgloss.JoinVertical(lipgloss.Left, parts...)
}
