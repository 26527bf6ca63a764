package ui

import (
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/muesli/termenv"

	"diffuapriel/engine"
	"diffuapriel/models"
	"diffuapriel/themes"
)

// Smallest terminal the layout is drawn for.
const minWidth, minHeight = 60, 20

// tokenRenderer is what the playground needs of the tokenizer.
type tokenRenderer interface {
	Encode(text string) []int32
	Pieces(ids []int32) []string
}

// appConfig is everything an app is built from.
type appConfig struct {
	models     []source // single pane: the model list; compare: one per pane
	compare    bool
	newBackend backendFactory
	tok        tokenRenderer
	theme      themes.Theme
	mono       bool // no colours, attributes only (NO_COLOR)
	prompt     string
	length     int
	opts       engine.Options

	replay     *engine.Trace // replay this recorded run: no model, no backend
	replayName string        // the trace's file, for the header
	outDir     string        // where saved traces and recordings go ("" = the working directory)
	recordPath string        // --record: start recording here once the screen has a size
}

// app is the root Bubble Tea model. It owns the panes and routes messages
// to its components; workers talk to it only through messages.
type app struct {
	cfg    appConfig
	keys   keyMap
	styles styles

	width, height int

	events  chan tea.Msg
	workers []*worker
	panes   []*pane

	prompt   string
	controls controls
	play     playback
	insp     inspector
	editor   editor
	help     help.Model
	loadBar  progress.Model
	showHelp bool
	helpTop  int // first help line shown when the overlay scrolls
	heat     bool
	scroll   int
	notice   string

	rec       recorder // nil without a terminal to record
	status    string   // a one-line message in the status bar (saved, failed, disabled), cleared by the next key
	statusErr bool
	saving    map[string]bool // trace files being written off the UI goroutine
	sized     bool            // the first window size has arrived
}

func newApp(cfg appConfig) *app {
	a := &app{cfg: cfg, keys: newKeyMap(), styles: newStyles(cfg.theme, cfg.mono), prompt: cfg.prompt,
		play: newPlayback(), editor: newEditor(), help: help.New(), heat: true,
		events: make(chan tea.Msg, 256), saving: map[string]bool{}}
	a.loadBar = newLoadBar(a.styles)
	a.help.Styles = helpStyles(a.styles)
	s := settings{opts: cfg.opts, length: cfg.length}
	var names []string
	if !cfg.compare {
		for _, m := range cfg.models {
			names = append(names, m.name)
		}
	}
	a.controls = newControls(s, names)
	if cfg.replay != nil {
		a.panes = replayPanes(cfg.replay)
		return a
	}
	n := 1
	if cfg.compare {
		n = len(cfg.models)
	}
	for i := range n {
		a.panes = append(a.panes, &pane{src: cfg.models[i]})
		a.workers = append(a.workers, startWorker(i, cfg.newBackend, a.events))
	}
	return a
}

// shutdown stops every worker, giving each a moment to free its backend.
func (a *app) shutdown() {
	stopWorkers(a.workers, 2*time.Second)
}

func (a *app) listen() tea.Cmd {
	ch := a.events
	return func() tea.Msg { return <-ch }
}

func (a *app) Init() tea.Cmd {
	if a.cfg.replay != nil {
		return a.play.restart()
	}
	for i := range a.panes {
		a.load(i)
	}
	return a.listen()
}

func (a *app) load(i int) {
	p := a.panes[i]
	*p = pane{src: p.src, loading: true}
	a.workers[i].submit(loadRequest{src: p.src})
}

// startPane begins a fresh generation of the current prompt in pane i.
func (a *app) startPane(i int) {
	p := a.panes[i]
	if !p.ready() {
		return
	}
	p.gen++
	p.runErr, p.cache = nil, nil
	mask := int32(p.cfg.MaskTokenID)
	canvas, err := engine.ParsePrompt(a.cfg.tok, a.prompt, a.controls.s.length, mask, p.cfg.MaxSeqLen)
	if err != nil {
		p.hist, p.computing, p.runErr = nil, false, err
		return
	}
	p.hist = engine.NewHistory(canvas, mask)
	p.computing = true
	a.workers[i].submit(runRequest{gen: p.gen, canvas: canvas, opts: a.controls.s.opts})
}

// restart regenerates every pane from the start and plays.
func (a *app) restart() tea.Cmd {
	for i := range a.panes {
		a.startPane(i)
	}
	return a.play.restart()
}

// focusPane is the pane the inspector and progress line describe.
func (a *app) focusPane() *pane { return a.panes[min(a.insp.pane, len(a.panes)-1)] }

func (a *app) bounds() bounds {
	b := bounds{finished: true}
	for _, p := range a.panes {
		b.available = max(b.available, p.events())
		if p.loadErr == nil && !p.finished() {
			b.finished = false
		}
	}
	b.expected = b.available
	if !b.finished {
		b.expected = max(b.available, a.controls.s.opts.Steps)
	}
	return b
}

// frameOf is pane p's frame at the shared cursor (lock step: a pane that
// has fewer events shows its last).
func (a *app) frameOf(p *pane) *frame {
	if p.hist == nil {
		return nil
	}
	return p.frameAt(a.play.cursor)
}

func (a *app) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.help.Width = msg.Width
		if a.editor.open {
			w, h := a.editorSize()
			a.editor.resize(w, h)
		}
		if a.rec != nil {
			a.rec.Resize(msg.Width, msg.Height)
		}
		if !a.sized {
			a.sized = true
			if a.cfg.recordPath != "" && a.rec != nil {
				return a, a.startRecording(a.cfg.recordPath)
			}
		}
		return a, nil
	case traceSavedMsg:
		a.traceSaved(msg)
		return a, nil
	case recordFailedMsg:
		a.setStatus(msg.err.Error(), true)
		return a, nil
	case loadProgressMsg:
		p := a.panes[msg.pane]
		p.loadDone, p.loadTotal = msg.done, msg.total
		return a, a.listen()
	case loadedMsg:
		return a, tea.Batch(a.loaded(msg), a.listen())
	case stepMsg:
		p := a.panes[msg.pane]
		if msg.gen == p.gen && p.hist != nil {
			if err := p.hist.Append(msg.ev); err != nil {
				p.runErr = err
			}
			p.memUsed, p.memTotal = msg.memUsed, msg.memTotal
		}
		return a, a.listen()
	case runEndMsg:
		p := a.panes[msg.pane]
		if msg.gen == p.gen {
			p.computing = false
			if msg.err != nil {
				p.runErr = msg.err
			}
		}
		return a, a.listen()
	case settingsMsg:
		if msg.modelChanged && !a.cfg.compare {
			a.panes[0].src = a.cfg.models[msg.settings.model]
			a.load(0)
			a.play.cursor = 0
			return a, nil
		}
		return a, a.restart()
	case promptMsg:
		return a, a.applyPrompt(msg.prompt)
	case steerMsg:
		a.steer(msg)
		return a, nil
	case tea.MouseMsg:
		a.mouse(msg)
		return a, nil
	case tea.KeyMsg:
		return a, a.key(msg)
	}
	if a.editor.open {
		return a, a.editor.update(msg, a.keys)
	}
	cmd, _ := a.play.update(msg, a.keys, a.bounds())
	return a, cmd
}

func (a *app) loaded(msg loadedMsg) tea.Cmd {
	p := a.panes[msg.pane]
	p.loading = false
	if msg.err != nil {
		p.loadErr = msg.err
		return nil
	}
	p.cfg, p.params = msg.cfg, models.ParamCount(msg.cfg)
	p.backend, p.device, p.memUsed, p.memTotal = msg.backend, msg.device, msg.memUsed, msg.memTotal
	if msg.notice != "" {
		a.notice = msg.notice
	}
	a.startPane(msg.pane)
	if a.play.playing {
		return nil
	}
	return a.play.restart()
}

// applyPrompt checks an edited prompt against every loaded model and, if
// it fits, regenerates with it.
func (a *app) applyPrompt(prompt string) tea.Cmd {
	for _, p := range a.panes {
		if !p.ready() {
			continue
		}
		if _, err := engine.ParsePrompt(a.cfg.tok, prompt, a.controls.s.length, int32(p.cfg.MaskTokenID), p.cfg.MaxSeqLen); err != nil {
			a.editor.refuse(err.Error())
			return nil
		}
	}
	a.prompt = prompt
	a.editor.close()
	return a.restart()
}

// steer changes one position at the step on screen and resumes the
// diffusion from there; the events after it are dropped.
func (a *app) steer(msg steerMsg) {
	p := a.panes[msg.pane]
	if p.hist == nil || !p.ready() {
		return
	}
	n := min(a.play.cursor, p.events())
	a.play.pause()
	if err := p.hist.Steer(n, msg.pos, msg.token); err != nil {
		a.notice = err.Error()
		return
	}
	p.gen++
	p.runErr, p.cache, p.computing = nil, nil, true
	a.play.cursor = n
	a.workers[msg.pane].submit(runRequest{gen: p.gen, canvas: p.hist.CanvasAt(n), opts: a.controls.s.opts,
		seekStep: p.hist.ScheduledSteps(n), index: n})
	what := "re-masked"
	if msg.token != p.hist.Mask {
		what = "pinned " + displayToken(a.cfg.tok.Pieces([]int32{msg.token})[0])
	}
	a.notice = fmt.Sprintf("steered: %s at pos %d; space resumes", what, msg.pos)
}

func (a *app) key(msg tea.KeyMsg) tea.Cmd {
	km := a.keys
	if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !a.editor.open {
		// Keys that arrive together (key repeat, a fast typist, tmux
		// send-keys) come as one message; each is a command of its own.
		var cmds []tea.Cmd
		for _, r := range msg.Runes {
			cmds = append(cmds, a.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}))
		}
		return tea.Batch(cmds...)
	}
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	if a.editor.open {
		return a.editor.update(msg, km)
	}
	a.setStatus("", false) // a message lasts until the next key
	if a.showHelp {
		switch {
		case key.Matches(msg, km.Help, km.Cancel, km.Quit):
			a.showHelp = false
		case key.Matches(msg, km.ControlUp), key.Matches(msg, km.ScrollUp):
			a.helpTop = max(a.helpTop-1, 0)
		case key.Matches(msg, km.ControlDown), key.Matches(msg, km.ScrollDown):
			a.helpTop++ // clamped when drawn
		}
		return nil
	}
	switch {
	case key.Matches(msg, km.Quit):
		return tea.Quit
	case key.Matches(msg, km.Help):
		a.showHelp, a.helpTop = true, 0
		return nil
	case key.Matches(msg, km.Cancel):
		if a.controls.focused {
			a.controls.focused = false
		} else {
			a.insp.open = false
		}
		return nil
	case key.Matches(msg, km.Record):
		return a.toggleRecording()
	}
	if a.cfg.replay != nil {
		if why := replayDisabled(msg, km); why != "" {
			a.setStatus(why, true)
			return nil
		}
	}
	switch {
	case key.Matches(msg, km.Controls):
		a.controls.focused = !a.controls.focused
		return nil
	case key.Matches(msg, km.SaveTrace):
		return a.saveTrace()
	}
	if cmd, ok := a.controls.update(msg, km); ok {
		return cmd
	}
	f := a.frameOf(a.focusPane())
	if f != nil && a.insp.open {
		l := layoutPieces(framePieces(a.cfg.tok, f), a.canvasWidth())
		if cmd, ok := a.insp.update(msg, km, f, l, len(a.panes)); ok {
			a.followCursor(l)
			return cmd
		}
	}
	if cmd, ok := a.play.update(msg, km, a.bounds()); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, km.Inspect):
		a.insp.toggle(f)
	case key.Matches(msg, km.Edit):
		w, h := a.editorSize()
		return a.editor.start(a.prompt, w, h)
	case key.Matches(msg, km.Heat):
		a.heat = !a.heat
	case key.Matches(msg, km.Theme):
		a.setTheme(themes.Next(a.styles.theme.Name))
	case key.Matches(msg, km.Restart):
		return a.restart()
	case key.Matches(msg, km.ScrollUp):
		a.scrollBy(-a.canvasHeight() / 2)
	case key.Matches(msg, km.ScrollDown):
		a.scrollBy(a.canvasHeight() / 2)
	}
	return nil
}

func (a *app) setTheme(t themes.Theme) {
	a.styles = newStyles(t, a.styles.mono)
	a.loadBar = newLoadBar(a.styles)
	a.help.Styles = helpStyles(a.styles)
}

// followCursor scrolls so the inspector's position is visible.
func (a *app) followCursor(l textLayout) {
	if a.insp.pos >= len(l.PosLine) {
		return
	}
	line, h := l.PosLine[a.insp.pos], a.canvasHeight()
	if line < a.scroll {
		a.scroll = line
	} else if line >= a.scroll+h {
		a.scroll = line - h + 1
	}
}

// newLoadBar is the checkpoint loading bar in the theme's accent colour.
func newLoadBar(s styles) progress.Model {
	if s.mono {
		return progress.New(progress.WithoutPercentage(), progress.WithColorProfile(termenv.Ascii))
	}
	return progress.New(progress.WithSolidFill(string(s.theme.Accent)), progress.WithoutPercentage())
}

// helpStyles draws the key hints and the help overlay in the theme.
func helpStyles(s styles) help.Styles {
	return help.Styles{
		Ellipsis: s.label, ShortKey: s.accent, ShortDesc: s.label, ShortSeparator: s.label,
		FullKey: s.accent, FullDesc: s.value, FullSeparator: s.label,
	}
}

// scrollBy moves the text by lines, keeping the last line of the longest
// pane reachable and no further.
func (a *app) scrollBy(lines int) {
	longest := 0
	for _, p := range a.panes {
		if f := a.frameOf(p); f != nil {
			longest = max(longest, len(layoutPieces(framePieces(a.cfg.tok, f), a.canvasWidth()).Lines))
		}
	}
	a.scroll = min(max(a.scroll+lines, 0), max(longest-a.canvasHeight(), 0))
}
