package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// speeds are the playback rates in steps per second.
var speeds = []float64{1, 2, 5, 10, 20, 50, 100}

const defaultSpeed = 4 // 20 steps/s

// tickMsg advances playback; id ties it to one play session so a stale
// ticker dies when playback is paused or restarted.
type tickMsg struct{ id int }

// playback is the animation and timeline: which event is on screen and
// whether it advances on its own. Events are never recomputed to move it.
type playback struct {
	cursor  int // events applied to the canvas on screen
	playing bool
	speed   int
	tickID  int
}

// bounds is what the panes have produced so far.
type bounds struct {
	available int  // events recorded (the most of any pane)
	expected  int  // events the timeline is drawn for (at least available)
	finished  bool // no pane will produce more
}

func newPlayback() playback { return playback{speed: defaultSpeed} }

func (p *playback) interval() time.Duration {
	return time.Duration(float64(time.Second) / speeds[p.speed])
}

func (p *playback) tick() tea.Cmd {
	id := p.tickID
	return tea.Tick(p.interval(), func(time.Time) tea.Msg { return tickMsg{id: id} })
}

func (p *playback) play() tea.Cmd {
	p.playing = true
	p.tickID++
	return p.tick()
}

func (p *playback) pause() {
	p.playing = false
	p.tickID++
}

// restart rewinds to the first step and plays.
func (p *playback) restart() tea.Cmd {
	p.cursor = 0
	return p.play()
}

func (p *playback) seek(n int, b bounds) {
	p.cursor = min(max(n, 0), b.available)
}

// update handles the playback keys and ticks; handled reports whether msg
// was one of them.
func (p *playback) update(msg tea.Msg, km keyMap, b bounds) (cmd tea.Cmd, handled bool) {
	switch msg := msg.(type) {
	case tickMsg:
		if !p.playing || msg.id != p.tickID {
			return nil, true
		}
		if p.cursor < b.available {
			p.cursor++
		} else if b.finished {
			p.pause()
			return nil, true
		}
		return p.tick(), true
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, km.PlayPause):
			if p.playing {
				p.pause()
				return nil, true
			}
			if b.finished && p.cursor >= b.available {
				p.cursor = 0
			}
			return p.play(), true
		case key.Matches(msg, km.StepForward):
			p.pause()
			p.seek(p.cursor+1, b)
		case key.Matches(msg, km.StepBack):
			p.pause()
			p.seek(p.cursor-1, b)
		case key.Matches(msg, km.ScrubForward):
			p.pause()
			p.seek(p.cursor+10, b)
		case key.Matches(msg, km.ScrubBack):
			p.pause()
			p.seek(p.cursor-10, b)
		case key.Matches(msg, km.First):
			p.pause()
			p.seek(0, b)
		case key.Matches(msg, km.Last):
			p.pause()
			p.seek(b.available, b)
		case key.Matches(msg, km.Faster):
			p.speed = min(p.speed+1, len(speeds)-1)
		case key.Matches(msg, km.Slower):
			p.speed = max(p.speed-1, 0)
		default:
			return nil, false
		}
		return nil, true
	}
	return nil, false
}

// clickTimeline seeks to the step under column x of a timeline drawn
// width cells wide.
func (p *playback) clickTimeline(x, width int, b bounds) {
	if width <= 1 || b.expected == 0 {
		return
	}
	p.pause()
	p.seek((x*b.expected+(width-1)/2)/(width-1), b)
}

// timelineView draws the scrub bar: done up to the cursor, a head, the
// rest; the part not yet computed is drawn lighter.
func (p *playback) timelineView(s styles, width int, b bounds) string {
	if width < 2 {
		return ""
	}
	total := max(b.expected, 1)
	head := min(p.cursor*(width-1)/total, width-1)
	avail := min(b.available*(width-1)/total, width-1)
	var sb strings.Builder
	sb.WriteString(s.timelineDone.Render(strings.Repeat("━", head)))
	sb.WriteString(s.accent.Render("●"))
	if avail > head {
		sb.WriteString(s.label.Render(strings.Repeat("─", avail-head)))
	}
	if rest := width - 1 - max(avail, head); rest > 0 {
		sb.WriteString(s.timelineTodo.Render(strings.Repeat("┄", rest)))
	}
	return sb.String()
}

// stateLabel says what the animation is doing.
func (p *playback) stateLabel(b bounds) string {
	speed := fmt.Sprintf("%g/s", speeds[p.speed])
	switch {
	case p.playing && p.cursor >= b.available && !b.finished:
		return "▶ waiting " + speed
	case p.playing:
		return "▶ playing " + speed
	}
	return "‖ paused " + speed
}

// progressLine is step i/N, masks left, t and a sparkline of step times.
func progressLine(s styles, f *frame, times []time.Duration, width int) string {
	if f == nil {
		return ""
	}
	parts := []string{}
	if ev := f.lastEv; ev != nil {
		stepLabel := fmt.Sprintf("step %d/%d", ev.Step, ev.Steps)
		if ev.NoiseRemoval {
			stepLabel = fmt.Sprintf("final %d/%d", ev.Step, ev.Steps)
		}
		parts = append(parts, stepLabel)
		if ev.Blocks > 1 {
			parts = append(parts, fmt.Sprintf("block %d/%d", ev.Block+1, ev.Blocks))
		}
		parts = append(parts, fmt.Sprintf("masks %d", f.masked), fmt.Sprintf("t %.3f", ev.T))
	} else {
		parts = append(parts, "step 0", fmt.Sprintf("masks %d", f.masked), "t 1.000")
	}
	line := s.value.Render(strings.Join(parts, " · "))
	if len(times) > 0 {
		room := width - ansi.StringWidth(line) - 14
		if room > 4 {
			if len(times) > room {
				times = times[len(times)-room:]
			}
			line += "  " + s.accent.Render(sparkline(times)) + " " + s.label.Render(millis(times[len(times)-1]))
		}
	}
	return line
}
