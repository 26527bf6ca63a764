package record

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
)

// Bubble Tea treats its output as a terminal (sizes, resizes) only when it
// implements term.File.
var _ term.File = (*Tap)(nil)

// quitter shows one view and quits.
type quitter struct{ view string }

func (q quitter) Init() tea.Cmd                       { return tea.Quit }
func (q quitter) Update(tea.Msg) (tea.Model, tea.Cmd) { return q, nil }
func (q quitter) View() string                        { return q.view }

// A Bubble Tea program writing through a Tap lands in the recording.
func TestTapRecordsABubbleTeaProgram(t *testing.T) {
	tty, _ := terminal(t)
	tap := NewTap(tty, func(err error) { t.Error(err) })
	path := filepath.Join(t.TempDir(), "tea.cast")
	if err := tap.Start(path, false, 80, 24, "tea"); err != nil {
		t.Fatal(err)
	}
	p := tea.NewProgram(quitter{view: "denoising ░░ step 3/8"}, tea.WithOutput(tap), tea.WithInput(nil))
	if _, err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := tap.Stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, events := parseCast(t, data)
	var out strings.Builder
	for _, ev := range events {
		out.WriteString(ev.data)
	}
	if !strings.Contains(out.String(), "denoising ░░ step 3/8") {
		t.Fatalf("recording holds %q", out.String())
	}
}
