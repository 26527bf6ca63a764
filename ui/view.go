package ui

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// Fixed rows of the layout.
const (
	headerRows = 1
	footerRows = 4 // progress, timeline, key hints, status bar
	inspRows   = 8
	stateWidth = 18 // the timeline's state label column
)

// geometry is where everything sits for the current size and mode; both
// View and the mouse handler use it, so clicks land where things are drawn.
type geometry struct {
	sideW      int // controls panel, outer width
	paneW      []int
	paneX      []int
	bodyTop    int
	bodyH      int // outer height of the panels
	textW      int // text columns of the narrowest pane
	textH      int // text rows of a pane
	textTop    int // screen row of a pane's first text line
	inspH      int
	timeRow    int // screen row of the timeline
	timelineX  int
	timelineW  int
	controlTop int // screen row of the first control row
}

func (a *app) geometry() geometry {
	g := geometry{bodyTop: headerRows}
	g.sideW = 28
	if a.width >= 80 {
		g.sideW = 32
	}
	if a.insp.open {
		g.inspH = inspRows
	}
	g.bodyH = a.height - headerRows - footerRows - g.inspH
	n := len(a.panes)
	room := a.width - g.sideW
	g.textW = 1 << 30
	x := 0
	for i := range n {
		w := room / n
		if i == n-1 {
			w = room - x
		}
		g.paneW = append(g.paneW, w)
		g.paneX = append(g.paneX, x)
		g.textW = min(g.textW, w-4)
		x += w
	}
	g.textH = g.bodyH - 2
	g.textTop = g.bodyTop + 1
	if a.cfg.compare {
		g.textH -= 4 // title and three stats lines
		g.textTop++
	}
	g.timeRow = g.bodyTop + g.bodyH + g.inspH + 1 // under the progress line
	g.timelineX = stateWidth
	g.timelineW = max(a.width-stateWidth-12, 2)
	g.controlTop = g.bodyTop + 2
	return g
}

func (a *app) canvasWidth() int  { return max(a.geometry().textW, 1) }
func (a *app) canvasHeight() int { return max(a.geometry().textH, 1) }

func (a *app) editorSize() (int, int) {
	g := a.geometry()
	return a.width - 4, max(g.bodyH+g.inspH-6, 3)
}

func (a *app) tooSmall() bool { return a.width < minWidth || a.height < minHeight }

func (a *app) View() string {
	if a.width == 0 {
		return ""
	}
	if a.tooSmall() {
		msg := fmt.Sprintf("The terminal is %d×%d; the playground needs at least %d×%d.\nEnlarge the window, or press q to quit.",
			a.width, a.height, minWidth, minHeight)
		return lipgloss.Place(a.width, a.height, lipgloss.Center, lipgloss.Center,
			a.styles.err.Render(ansi.Wrap(msg, a.width, "")))
	}
	g := a.geometry()
	var rows []string
	rows = append(rows, a.headerView())
	if a.showHelp {
		rows = append(rows, a.helpView(a.height-2), a.statusView())
		return fitScreen(strings.Join(rows, "\n"), a.width, a.height)
	}
	switch {
	case a.editor.open:
		body := a.styles.panelFocused.Padding(0, 1).Width(a.width - 2).Height(g.bodyH + g.inspH - 2).
			Render(a.editor.view(a.styles, a.width-4))
		rows = append(rows, body)
	default:
		rows = append(rows, a.bodyView(g))
		if a.insp.open {
			rows = append(rows, a.inspectorView(g))
		}
	}
	rows = append(rows, a.progressView(), a.timelineView(g), a.hintView(), a.statusView())
	return fitScreen(strings.Join(rows, "\n"), a.width, a.height)
}

// fitScreen pads or cuts a view to exactly width×height cells, so a
// resize never leaves stale rows or wrapped lines.
func fitScreen(view string, width, height int) string {
	lines := strings.Split(view, "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			lines[i] = ansi.Truncate(l, width, "")
		} else if w < width {
			lines[i] = l + strings.Repeat(" ", width-w)
		}
	}
	for len(lines) < height {
		lines = append(lines, strings.Repeat(" ", width))
	}
	return strings.Join(lines, "\n")
}

func (a *app) headerView() string {
	s := a.styles
	left := s.title.Render("diffuapriel")
	if a.cfg.replay != nil {
		left += s.label.Render(" · replay ") + s.value.Render(filepath.Base(a.cfg.replayName))
	}
	if a.cfg.compare {
		left += s.label.Render(fmt.Sprintf(" · compare %d models", len(a.panes)))
	} else {
		left += s.label.Render(" · ") + s.value.Render(a.panes[0].src.name)
	}
	left += s.label.Render(" · theme " + s.theme.Name)
	right := ""
	if a.notice != "" {
		room := a.width - ansi.StringWidth(left) - 2
		if room > 8 {
			right = s.accent.Render(truncate(a.notice, room))
		}
	}
	gap := max(a.width-ansi.StringWidth(left)-ansi.StringWidth(right), 1)
	return left + strings.Repeat(" ", gap) + right
}

func (a *app) bodyView(g geometry) string {
	var cols []string
	for i, p := range a.panes {
		cols = append(cols, a.paneView(i, p, g))
	}
	ctl := a.styles.panel
	if a.controls.focused {
		ctl = a.styles.panelFocused
	}
	cols = append(cols, ctl.Padding(0, 1).Width(g.sideW-2).Height(g.bodyH-2).
		Render(a.controls.view(a.styles, g.sideW-4, g.bodyH-2)))
	return lipgloss.JoinHorizontal(lipgloss.Top, cols...)
}

// paneView draws one pane: its text at the cursor (or its loading bar or
// error), with a title and a stats line in compare mode.
func (a *app) paneView(i int, p *pane, g geometry) string {
	s := a.styles
	w := g.paneW[i] - 4
	var lines []string
	if a.cfg.compare {
		title := p.src.name
		if p.backend != "" {
			title += " · " + p.backend
		}
		style := s.title
		if i == a.insp.pane && a.insp.open {
			style = s.focused
		}
		lines = append(lines, style.Render(truncate(title, w)))
	}
	lines = append(lines, a.paneText(i, p, w, g.textH)...)
	if a.cfg.compare {
		st := p.stats(a.play.cursor)
		rate := fmt.Sprintf("%s/step · %.0f tok/s", millis(st.perStep), st.tokensPerS)
		calls := fmt.Sprintf("%d model calls · %s", st.calls, p.backend)
		lines = append(lines, s.value.Render(truncate(rate, w)), s.value.Render(truncate(calls, w)),
			s.label.Render(truncate(p.device, w)))
	}
	box := s.panel
	if a.cfg.compare && i == a.insp.pane && a.insp.open {
		box = s.panelFocused
	}
	return box.Padding(0, 1).Width(g.paneW[i] - 2).Height(g.bodyH - 2).Render(strings.Join(lines, "\n"))
}

// paneText is exactly height lines of width cells.
func (a *app) paneText(i int, p *pane, width, height int) []string {
	s := a.styles
	var lines []string
	switch {
	case p.loading:
		pct := 0.0
		if p.loadTotal > 0 {
			pct = float64(p.loadDone) / float64(p.loadTotal)
		}
		a.loadBar.Width = width
		lines = append(lines, s.value.Render(truncate("loading "+p.src.name+"…", width)), a.loadBar.ViewAs(pct),
			s.label.Render(fmt.Sprintf("%s of %s", humanBytes(uint64(p.loadDone)), humanBytes(uint64(p.loadTotal)))))
	case p.loadErr != nil:
		lines = append(lines, s.err.Render("cannot load "+truncate(p.src.name, width-12)))
		for _, l := range strings.Split(ansi.Wrap(p.loadErr.Error(), width, " /"), "\n") {
			lines = append(lines, s.err.Render(l))
		}
	case p.hist == nil && p.runErr != nil:
		for _, l := range strings.Split(ansi.Wrap(p.runErr.Error(), width, " "), "\n") {
			lines = append(lines, s.err.Render(l))
		}
	case p.hist != nil:
		f := a.frameOf(p)
		cursor := -1
		if a.insp.open && i == a.insp.pane {
			cursor = a.insp.pos
		}
		v := canvasView{frame: f, pieces: framePieces(a.cfg.tok, f), cursor: cursor, heat: a.heat}
		l := layoutPieces(v.pieces, width)
		all := v.render(s, l, width)
		start := min(a.scroll, max(len(all)-1, 0))
		lines = all[start:min(len(all), start+height)]
		if p.runErr != nil && len(lines) > 0 {
			if len(lines) >= height {
				lines = lines[:height-1]
			}
			lines = append(lines, s.err.Render(truncate("error: "+p.runErr.Error(), width)))
		}
	}
	if len(lines) > height {
		lines = lines[:height]
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return lines
}

func (a *app) inspectorView(g geometry) string {
	p := a.focusPane()
	f := a.frameOf(p)
	if f == nil {
		return a.styles.label.Render("inspector: nothing generated yet")
	}
	return lipgloss.NewStyle().Height(g.inspH).MaxHeight(g.inspH).
		Render(a.insp.view(a.styles, a.cfg.tok, f, a.width, g.inspH, a.cfg.replay == nil))
}

func (a *app) progressView() string {
	p := a.focusPane()
	f := a.frameOf(p)
	if f == nil {
		return a.styles.label.Render("waiting for the model…")
	}
	var times []time.Duration
	for _, ev := range p.hist.Events[:f.n] {
		if ev.ModelCalled {
			times = append(times, ev.Forward)
		}
	}
	return progressLine(a.styles, f, times, a.width)
}

func (a *app) timelineView(g geometry) string {
	b := a.bounds()
	label := padRight(a.play.stateLabel(b), stateWidth)
	count := fmt.Sprintf(" %d/%d", a.play.cursor, b.expected)
	return a.styles.value.Render(label) + a.play.timelineView(a.styles, g.timelineW, b) + a.styles.label.Render(count)
}

func (a *app) hintView() string {
	return a.help.ShortHelpView(a.keys.ShortHelp())
}

func (a *app) statusView() string {
	s := a.styles
	sep := s.barSep.Render(" │ ")
	var lead []string // drawn first, in their own styles
	if rec := a.recordingLabel(); rec != "" {
		lead = append(lead, s.barRec.Render(rec))
	}
	if a.status != "" {
		st := s.bar
		if a.statusErr {
			st = s.barErr
		}
		lead = append(lead, st.Render(a.status))
	}
	var parts []string
	switch {
	case a.status != "":
		// The message gets the whole bar.
	case a.cfg.compare:
		o := a.controls.s.opts
		parts = append(parts, fmt.Sprintf("compare %d models", len(a.panes)),
			fmt.Sprintf("%s · %s · %d steps", o.Sampler, o.Schedule, o.Steps), fmt.Sprintf("seed %d", o.Seed))
	default:
		p := a.panes[0]
		parts = append(parts, p.src.name)
		if p.ready() || p.recorded {
			parts = append(parts, humanCount(p.params)+" params")
			if f := a.frameOf(p); f != nil && f.lastEv != nil {
				parts = append(parts, "step "+millis(f.lastEv.Forward))
			}
			if p.recorded {
				parts = append(parts, "recorded on "+p.backend+": "+p.device)
			} else {
				parts = append(parts, "mem "+humanBytes(p.memUsed)+" / "+humanBytes(p.memTotal), p.backend+": "+p.device)
			}
		}
	}
	styled := lead
	for _, part := range parts {
		styled = append(styled, s.bar.Render(part))
	}
	line := s.bar.Render(" ") + strings.Join(styled, sep)
	line = ansi.Truncate(line, a.width, "…")
	if w := ansi.StringWidth(line); w < a.width {
		line += s.bar.Render(strings.Repeat(" ", a.width-w))
	}
	return line
}

// helpView lists every binding in as many columns as fit the width; when
// they do not fit the height either, the list scrolls.
func (a *app) helpView(height int) string {
	var all []key.Binding
	keyW, descW := 0, 0
	for _, group := range a.keys.FullHelp() {
		for _, b := range group {
			all = append(all, b)
			keyW = max(keyW, ansi.StringWidth(b.Help().Key))
			descW = max(descW, ansi.StringWidth(b.Help().Desc))
		}
	}
	const sep = 4 // bubbles/help's column separator
	inner := a.width - 4
	ncols := max(1, (inner+sep)/(keyW+1+descW+sep))
	per := (len(all) + ncols - 1) / ncols
	var cols [][]key.Binding
	for len(all) > 0 {
		n := min(per, len(all))
		cols = append(cols, all[:n])
		all = all[n:]
	}
	h := a.help
	h.Width = inner
	lines := strings.Split(h.FullHelpView(cols), "\n")
	rows := max(height-2, 1)
	if len(lines) > rows {
		// Keep the last row for the scroll hint.
		show := max(rows-1, 1)
		a.helpTop = min(a.helpTop, len(lines)-show)
		hint := fmt.Sprintf("↑/↓ scroll · %d–%d of %d", a.helpTop+1, a.helpTop+show, len(lines))
		lines = append(lines[a.helpTop:a.helpTop+show:a.helpTop+show], a.styles.label.Render(hint))
	}
	box := a.styles.panelFocused.Padding(0, 1).Width(a.width - 2).Height(rows)
	return box.Render(strings.Join(lines, "\n"))
}

// mouse: the wheel scrolls the text, a click on the timeline scrubs, on a
// token opens the inspector there, on a control selects it.
func (a *app) mouse(msg tea.MouseMsg) {
	if a.tooSmall() || a.editor.open || a.showHelp {
		return
	}
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		a.scrollBy(-3)
		return
	case tea.MouseButtonWheelDown:
		a.scrollBy(3)
		return
	}
	if msg.Action != tea.MouseActionPress || msg.Button != tea.MouseButtonLeft {
		return
	}
	g := a.geometry()
	switch {
	case msg.Y == g.timeRow && msg.X >= g.timelineX && msg.X < g.timelineX+g.timelineW:
		a.play.clickTimeline(msg.X-g.timelineX, g.timelineW, a.bounds())
	case msg.Y >= g.controlTop && msg.X >= a.width-g.sideW:
		if a.cfg.replay != nil {
			a.setStatus(needsModel("changing the controls"), true)
			return
		}
		a.controls.clickRow(msg.Y - g.controlTop)
	case msg.Y >= g.textTop && msg.Y < g.textTop+g.textH:
		for i, x := range g.paneX {
			if msg.X < x+2 || msg.X >= x+g.paneW[i]-2 {
				continue
			}
			p := a.panes[i]
			f := a.frameOf(p)
			if f == nil {
				return
			}
			l := layoutPieces(framePieces(a.cfg.tok, f), g.paneW[i]-4)
			if pos, ok := l.positionAt(msg.Y-g.textTop+a.scroll, msg.X-x-2); ok {
				a.insp.open, a.insp.pane, a.insp.pos = true, i, pos
			}
		}
	}
}

// positionAt finds the position drawn at a line and column.
func (l textLayout) positionAt(line, col int) (int, bool) {
	if line < 0 || line >= len(l.Lines) {
		return 0, false
	}
	x := 0
	for _, seg := range l.Lines[line] {
		w := ansi.StringWidth(seg.Text())
		if col >= x && col < x+w {
			return seg.Pos(), true
		}
		x += w
	}
	return 0, false
}
