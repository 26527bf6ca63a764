package export

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"diffuapriel/engine"
	"diffuapriel/themes"
	"diffuapriel/tokenizer"
)

//go:embed player.html
var playerTemplate string

// HTMLOptions control the HTML page. The zero value is usable.
type HTMLOptions struct {
	Theme     themes.Theme // zero: themes.Default
	Tokenizer Renderer     // nil: the GPT-2 tokenizer
	Title     string       // page title; "": the prompt
	// MaxCandidates bounds the candidates stored for still-masked positions
	// (each step's proposals for every hidden position grow as length x
	// steps); past it only the revealed tokens keep theirs, and the page
	// says so. 0: 1,000,000.
	MaxCandidates int
}

// The page's data, embedded as JSON. Token texts are rendered here with the
// project's tokenizer (sanitised), so the page needs none.
type pageData struct {
	Title     string           `json:"title"`
	Created   time.Time        `json:"created"`
	Prompt    string           `json:"prompt"`
	Options   engine.Options   `json:"options"`
	Colors    pageColors       `json:"colors"`
	Frames    int              `json:"frames"`
	MaskGlyph string           `json:"maskGlyph"`
	Vocab     map[int32]string `json:"vocab"` // candidate token texts
	Trimmed   bool             `json:"candidatesTrimmed"`
	Panes     []pagePane       `json:"panes"`
}

type pageColors struct {
	Background string   `json:"background"`
	Bar        string   `json:"bar"`
	Text       string   `json:"text"`
	Dim        string   `json:"dim"`
	Mask       string   `json:"mask"`
	FreshFG    string   `json:"freshFG"`
	FreshBG    string   `json:"freshBG"`
	Accent     string   `json:"accent"`
	Border     string   `json:"border"`
	Heat       []string `json:"heat"`
}

type pagePane struct {
	Model   string      `json:"model"`
	Backend string      `json:"backend"`
	Device  string      `json:"device"`
	Params  int64       `json:"params"`
	Steps   int         `json:"steps"`
	Fixed   []bool      `json:"fixed"`
	Init    []string    `json:"init"` // frame 0's text per position; masked positions are ""
	Masked  []bool      `json:"masked"`
	Events  []pageEvent `json:"events"`
}

// pageEvent is what changes from one frame to the next.
type pageEvent struct {
	Label   string       `json:"label"`
	Masks   int          `json:"masks"`
	Ms      float64      `json:"ms"`
	Changes []pageChange `json:"set"`
	Cands   []pageCands  `json:"cand,omitempty"`
}

// pageChange is a position's new state: Kind "r" (revealed by this event,
// with its probability, score and candidates), "s" (steered), "m"
// (masked again) or "t" (only its text changed, as a neighbour completed a
// character split across tokens).
type pageChange struct {
	Pos   int          `json:"pos"`
	Kind  string       `json:"kind"`
	Text  string       `json:"text"`
	Prob  float64      `json:"p,omitempty"`
	Score float64      `json:"score,omitempty"`
	Top   [][2]float64 `json:"top,omitempty"` // [token, probability]
}

// pageCands are the model's proposals for a still-masked position.
type pageCands struct {
	Pos int          `json:"pos"`
	Top [][2]float64 `json:"top"`
}

// HTML writes one self-contained page that replays the trace: a scrubber,
// play/pause, the heatmap, and on hover (or click, which pins it) a token's
// candidates with their probabilities; compare panes side by side. It loads
// nothing from the network (a Content-Security-Policy forbids it), and all
// model text is escaped for HTML and inserted as text, never as markup. The
// URL hash "#step=N" opens frame N, "&sel=P:I" selects position I of pane
// P, and "&play=1" starts playing.
func HTML(w io.Writer, tr *engine.Trace, opts HTMLOptions) error {
	data, err := buildPage(tr, opts)
	if err != nil {
		return err
	}
	js, err := json.Marshal(data) // escapes <, >, &, U+2028 and U+2029
	if err != nil {
		return fmt.Errorf("html: %v", err)
	}
	page := strings.NewReplacer("{{TITLE}}", html.EscapeString(data.Title), "{{DATA}}", string(js)).Replace(playerTemplate)
	_, err = io.WriteString(w, page)
	return err
}

func buildPage(tr *engine.Trace, o HTMLOptions) (*pageData, error) {
	if tr == nil || len(tr.Panes) == 0 {
		return nil, errors.New("html: the trace has no panes")
	}
	if o.Theme.Name == "" {
		t, err := themes.Get(themes.Default)
		if err != nil {
			return nil, err
		}
		o.Theme = t
	}
	if o.Tokenizer == nil {
		tok, err := tokenizer.GPT2()
		if err != nil {
			return nil, err
		}
		o.Tokenizer = tok
	}
	if o.MaxCandidates == 0 {
		o.MaxCandidates = 1_000_000
	}
	c, err := themeColors(o.Theme)
	if err != nil {
		return nil, err
	}
	h := tr.Header
	d := &pageData{Title: o.Title, Created: h.Created, Prompt: tokenizer.Sanitize(h.Prompt), Options: h.Options,
		Frames: frameCount(tr), MaskGlyph: maskGlyph, Vocab: map[int32]string{}}
	if d.Title == "" {
		d.Title = "diffuapriel: " + firstLine(d.Prompt)
	}
	d.Colors = pageColors{Background: hexOf(c.background), Bar: hexOf(c.bar), Text: hexOf(c.text), Dim: hexOf(c.dim),
		Mask: hexOf(c.mask), FreshFG: hexOf(c.freshFG), FreshBG: hexOf(c.freshBG), Accent: hexOf(c.accent), Border: hexOf(c.border)}
	for _, hc := range c.heat {
		d.Colors.Heat = append(d.Colors.Heat, hexOf(hc))
	}
	budget := o.MaxCandidates
	for i, hist := range tr.Panes {
		info := h.Panes[i]
		p, used, trimmed := buildPane(hist, o.Tokenizer, d.Vocab, budget)
		budget -= used
		d.Trimmed = d.Trimmed || trimmed
		p.Model, p.Backend, p.Device, p.Params = tokenizer.Sanitize(info.Model), info.Backend, tokenizer.Sanitize(info.Device), info.Params
		p.Steps = totalSteps(tr, hist)
		d.Panes = append(d.Panes, p)
	}
	for id := range d.Vocab {
		d.Vocab[id] = o.Tokenizer.Pieces([]int32{id})[0]
	}
	return d, nil
}

// buildPane records frame 0 and each frame's changes, adding candidate
// tokens to vocab; at most budget masked-position candidates are kept.
func buildPane(hist *engine.History, tok Renderer, vocab map[int32]string, budget int) (pagePane, int, bool) {
	w := newPaneWalker(hist)
	pieces := func() []string {
		out := tok.Pieces(w.tokens)
		for i, t := range w.tokens {
			if t == hist.Mask {
				out[i] = ""
			}
		}
		return out
	}
	prevText := pieces()
	prevTok := append([]int32(nil), w.tokens...)
	p := pagePane{Fixed: hist.Initial.Fixed, Init: prevText, Masked: make([]bool, len(w.tokens))}
	for i, t := range w.tokens {
		p.Masked[i] = t == hist.Mask
	}
	used, trimmed := 0, false
	top := func(cands []engine.Candidate) [][2]float64 {
		var out [][2]float64
		for _, c := range cands {
			vocab[c.Token] = ""
			out = append(out, [2]float64{float64(c.Token), sig3(c.Prob)})
		}
		return out
	}
	for w.advance() {
		ev := w.event()
		text := pieces()
		pe := pageEvent{Label: w.stepLabel(ev.Steps), Masks: w.masked, Ms: sig3(float32(ev.Forward.Seconds() * 1000))}
		for pos := range w.tokens {
			if w.tokens[pos] == prevTok[pos] && text[pos] == prevText[pos] {
				continue
			}
			ch := pageChange{Pos: pos, Text: text[pos], Kind: "t"}
			switch w.class(pos, false) {
			case classMask:
				ch.Kind = "m"
			case classSteered:
				ch.Kind = "s"
			case classFresh:
				rv := w.reveal[pos]
				ch.Kind, ch.Prob, ch.Score, ch.Top = "r", sig3(rv.Prob), sig3(rv.Score), top(rv.Top)
			}
			pe.Changes = append(pe.Changes, ch)
		}
		for _, st := range ev.Candidates {
			if used+len(st.Top) > budget {
				trimmed = true
				break
			}
			if len(st.Top) > 0 && w.tokens[st.Pos] == hist.Mask {
				used += len(st.Top)
				pe.Cands = append(pe.Cands, pageCands{Pos: int(st.Pos), Top: top(st.Top)})
			}
		}
		p.Events = append(p.Events, pe)
		prevText, prevTok = text, append(prevTok[:0], w.tokens...)
	}
	return p, used, trimmed
}

// sig3 keeps three significant digits: enough to read, and short in JSON.
func sig3(v float32) float64 {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 3, 64), 64)
	return r
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len([]rune(s)) > 60 {
		s = string([]rune(s)[:60]) + "…"
	}
	return s
}
