package export

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strings"
	"time"

	"github.com/mattn/go-runewidth"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"diffuapriel/engine"
	"diffuapriel/themes"
	"diffuapriel/tokenizer"
)

// Renderer turns token ids into terminal-safe text, one string per id
// (*tokenizer.Tokenizer does).
type Renderer interface {
	Pieces(ids []int32) []string
}

// GIFOptions control GIF rendering. The zero value is usable.
type GIFOptions struct {
	Theme     themes.Theme          // zero: themes.Default
	Tokenizer Renderer              // nil: the GPT-2 tokenizer
	Columns   int                   // text columns per pane; 0: 64
	MaxLines  int                   // text lines per pane; 0: 24. Longer text is cut with a "… N more lines" line
	FontSize  float64               // pixels; 0: 14
	FPS       float64               // > 0 (at most 50): every frame lasts 1/FPS; 0: the recorded time of each step
	MinDelay  time.Duration         // shortest frame with recorded timing; 0: 80ms
	Hold      time.Duration         // how long the last frame stays before the loop restarts; 0: 2s
	MaxFrames int                   // 0: 1000. A longer trace shows every k-th frame (always the first and last)
	Plain     bool                  // no heat colours: earlier reveals in the text colour
	Progress  func(done, total int) // called after each frame, if set
}

// Limits that keep one GIF reasonable in size and time.
const (
	maxGIFColumns = 400
	maxGIFLines   = 400
	maxDelay      = 10 * time.Second
)

func (o *GIFOptions) defaults() error {
	if o.Theme.Name == "" {
		t, err := themes.Get(themes.Default)
		if err != nil {
			return err
		}
		o.Theme = t
	}
	if o.Tokenizer == nil {
		tok, err := tokenizer.GPT2()
		if err != nil {
			return err
		}
		o.Tokenizer = tok
	}
	def := func(v *int, d, hi int, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 1 || *v > hi {
			return fmt.Errorf("gif: %s must be 1..%d, got %d", name, hi, *v)
		}
		return nil
	}
	if err := errors.Join(def(&o.Columns, 64, maxGIFColumns, "columns"), def(&o.MaxLines, 24, maxGIFLines, "lines"),
		def(&o.MaxFrames, 1000, 1<<20, "max frames")); err != nil {
		return err
	}
	if o.FontSize == 0 {
		o.FontSize = 14
	}
	if !(o.FontSize >= 6 && o.FontSize <= 72) {
		return fmt.Errorf("gif: font size must be 6..72 pixels, got %g", o.FontSize)
	}
	if !(o.FPS >= 0 && o.FPS <= 50) {
		return fmt.Errorf("gif: fps must be 1..50 (GIF frames last at least 1/50 s), or 0 for the recorded step times; got %g", o.FPS)
	}
	if o.MinDelay == 0 {
		o.MinDelay = 80 * time.Millisecond
	}
	if o.Hold == 0 {
		o.Hold = 2 * time.Second
	}
	if o.MinDelay < 0 || o.Hold < 0 {
		return errors.New("gif: delays must not be negative")
	}
	if o.MaxFrames < 2 {
		return fmt.Errorf("gif: max frames must be at least 2, got %d", o.MaxFrames)
	}
	return nil
}

// GIF renders every frame of a trace (its starting canvas, then the canvas
// after each event; compare panes side by side) as an animated GIF: masked
// positions as the mask glyph, the prompt dim, the step's reveals
// highlighted, earlier reveals coloured by probability, and per pane a
// header (model, backend) and a footer (step i/N, masks left, step time,
// progress bar). A trace of E events gives E+1 frames unless E+1 exceeds
// MaxFrames. Memory stays at a few frames whatever the trace's length.
func GIF(w io.Writer, tr *engine.Trace, opts GIFOptions) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	if tr == nil || len(tr.Panes) == 0 {
		return errors.New("gif: the trace has no panes")
	}
	r, err := newGIFRenderer(tr, opts)
	if err != nil {
		return err
	}
	frames := sampledFrames(frameCount(tr), opts.MaxFrames)
	delays := frameDelays(tr, frames, opts)
	stream := newGIFStream(w, r.img.Rect.Dx(), r.img.Rect.Dy(), r.img.Palette)
	walkers := make([]*paneWalker, len(tr.Panes))
	for i, h := range tr.Panes {
		walkers[i] = newPaneWalker(h)
	}
	at := 0
	for i, n := range frames {
		for ; at < n; at++ {
			for _, w := range walkers {
				w.advance()
			}
		}
		r.draw(walkers, n, frameCount(tr))
		if err := stream.add(r.img, delays[i]); err != nil {
			return err
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(frames))
		}
	}
	return stream.close()
}

// sampledFrames lists the frames to draw: all of them, or every k-th (with
// the last) when there are more than max.
func sampledFrames(total, max int) []int {
	stride := 1
	if total > max {
		stride = (total - 1 + max - 2) / (max - 1)
	}
	var out []int
	for n := 0; n < total-1; n += stride {
		out = append(out, n)
	}
	return append(out, total-1)
}

// frameDelays gives each drawn frame its duration in hundredths of a
// second: a frame stays up while the next step computes (the recorded
// forward time of the events until the next drawn frame), or 1/FPS; the
// last frame is held.
func frameDelays(tr *engine.Trace, frames []int, o GIFOptions) []int {
	cs := func(d time.Duration) int { return max(2, int(math.Round(d.Seconds()*100))) }
	out := make([]int, len(frames))
	for i, n := range frames {
		switch {
		case i == len(frames)-1:
			out[i] = cs(o.Hold)
		case o.FPS > 0:
			out[i] = max(2, int(math.Round(100/o.FPS)))
		default:
			var d time.Duration
			for m := n + 1; m <= frames[i+1]; m++ {
				d += forward(tr, m)
			}
			out[i] = cs(min(max(d, o.MinDelay), maxDelay))
		}
	}
	return out
}

// pen draws one foreground colour over one background: palette indices for
// glyph coverage 0 (background) to 4 (foreground).
type pen [5]uint8

// palette collects the colours of a GIF: every solid colour and the blends
// anti-aliased glyphs need over their background.
type palette struct {
	colors color.Palette
	index  map[color.RGBA]uint8
}

func (p *palette) add(c color.RGBA) uint8 {
	if i, ok := p.index[c]; ok {
		return i
	}
	if len(p.colors) == 256 {
		return p.nearest(c)
	}
	p.index[c] = uint8(len(p.colors))
	p.colors = append(p.colors, c)
	return p.index[c]
}

func (p *palette) nearest(c color.RGBA) uint8 { return uint8(p.colors.Index(c)) }

func (p *palette) pen(fg, bg color.RGBA) pen {
	var out pen
	for k := range out {
		out[k] = p.add(mix(bg, fg, float64(k)/4))
	}
	return out
}

// gifPens are the pens and fills of a theme.
type gifPens struct {
	text, dim, mask, accent, steered, fresh pen
	barText, barDim, barAccent              pen
	heat                                    []pen
	background, bar, freshBG, border        uint8
	accentFill                              uint8
}

type gifRenderer struct {
	tr     *engine.Trace
	opts   GIFOptions
	pens   gifPens
	font   *sfnt.Font
	face   font.Face
	glyphs map[rune]*image.Alpha
	cellW  int
	lineH  int
	ascent int
	pad    int
	lines  int // text lines per pane
	paneW  int
	img    *image.Paletted
}

func newGIFRenderer(tr *engine.Trace, o GIFOptions) (*gifRenderer, error) {
	c, err := themeColors(o.Theme)
	if err != nil {
		return nil, err
	}
	f, err := opentype.Parse(gomono.TTF)
	if err != nil {
		return nil, fmt.Errorf("gif: font: %v", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: o.FontSize, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("gif: font: %v", err)
	}
	m := face.Metrics()
	adv, _ := face.GlyphAdvance('M')
	r := &gifRenderer{tr: tr, opts: o, font: f, face: face, glyphs: map[rune]*image.Alpha{},
		cellW: adv.Ceil(), ascent: m.Ascent.Ceil(), lineH: (m.Ascent + m.Descent).Ceil() + 2}
	r.pad = r.cellW
	pal := &palette{index: map[color.RGBA]uint8{}}
	p := &r.pens
	p.background = pal.add(c.background) // index 0: the GIF's background
	p.bar = pal.add(c.bar)
	p.freshBG = pal.add(c.freshBG)
	p.border = pal.add(c.border)
	p.accentFill = pal.add(c.accent)
	p.text = pal.pen(c.text, c.background)
	p.dim = pal.pen(c.dim, c.background)
	p.mask = pal.pen(c.mask, c.background)
	p.accent = pal.pen(c.accent, c.background)
	p.steered = p.accent
	p.fresh = pal.pen(c.freshFG, c.freshBG)
	p.barText = pal.pen(c.text, c.bar)
	p.barDim = pal.pen(c.dim, c.bar)
	p.barAccent = pal.pen(c.accent, c.bar)
	for _, h := range c.heat {
		p.heat = append(p.heat, pal.pen(h, c.background))
	}
	r.lines = min(r.maxTextLines(), o.MaxLines)
	r.paneW = o.Columns * r.cellW
	n := len(tr.Panes)
	width := n*r.paneW + (n+1)*2*r.pad
	// title bar, gap, header, text, footer, progress bar, bottom margin
	height := r.lineH + r.pad/2 + r.lineH + r.lines*r.lineH + r.lineH + 6 + r.pad
	if width > 65535 || height > 65535 {
		return nil, fmt.Errorf("gif: %dx%d pixels is too large; use fewer columns or lines", width, height)
	}
	r.img = image.NewPaletted(image.Rect(0, 0, width, height), pal.colors)
	return r, nil
}

// maxTextLines is the most lines any pane's text needs in any frame.
func (r *gifRenderer) maxTextLines() int {
	most := 1
	for _, h := range r.tr.Panes {
		w := newPaneWalker(h)
		for {
			most = max(most, len(wrap(r.piecesOf(w), r.opts.Columns)))
			if !w.advance() {
				break
			}
		}
	}
	return most
}

// piecesOf renders a walker's current tokens, the mask glyph for masks.
func (r *gifRenderer) piecesOf(w *paneWalker) []string {
	pieces := r.opts.Tokenizer.Pieces(w.tokens)
	for i, t := range w.tokens {
		if t == w.hist.Mask {
			pieces[i] = maskGlyph
		}
	}
	return pieces
}

// draw renders frame n of total.
func (r *gifRenderer) draw(walkers []*paneWalker, n, total int) {
	img := r.img
	for i := range img.Pix {
		img.Pix[i] = r.pens.background
	}
	o := r.tr.Header.Options
	r.fill(image.Rect(0, 0, img.Rect.Dx(), r.lineH), r.pens.bar)
	title := fmt.Sprintf("diffuapriel · %s · %s · %d steps · seed %d", o.Sampler, o.Schedule, o.Steps, o.Seed)
	right := fmt.Sprintf("frame %d/%d", n, total-1)
	cols := (img.Rect.Dx() - 2*r.pad) / r.cellW
	r.text(r.pad, 0, runewidth.Truncate(title, cols-runewidth.StringWidth(right)-2, "…"), r.pens.barAccent, cols)
	r.text(img.Rect.Dx()-r.pad-runewidth.StringWidth(right)*r.cellW, 0, right, r.pens.barDim, cols)
	for i, w := range walkers {
		r.drawPane(w, i)
	}
}

func (r *gifRenderer) drawPane(w *paneWalker, i int) {
	info := r.tr.Header.Panes[i]
	x0 := 2*r.pad + i*(r.paneW+2*r.pad)
	y := r.lineH + r.pad/2
	cols := r.opts.Columns
	used := r.text(x0, y, runewidth.Truncate(info.Model, cols, "…"), r.pens.accent, cols)
	if used+3 < cols {
		where := strings.TrimSpace(info.Backend + " " + info.Device)
		r.text(x0+(used+1)*r.cellW, y, runewidth.Truncate(where, cols-used-1, "…"), r.pens.dim, cols-used-1)
	}
	y += r.lineH
	lines := wrap(r.piecesOf(w), cols)
	shown := lines
	if len(lines) > r.lines {
		shown = lines[:r.lines-1]
	}
	for li, line := range shown {
		for _, seg := range line {
			r.drawSegment(w, seg, x0, y+li*r.lineH)
		}
	}
	if len(shown) < len(lines) {
		r.text(x0, y+len(shown)*r.lineH, fmt.Sprintf("… %d more lines", len(lines)-len(shown)), r.pens.dim, cols)
	}
	y += r.lines * r.lineH
	footer := fmt.Sprintf("%s · %d masks left", w.stepLabel(totalSteps(r.tr, w.hist)), w.masked)
	if ev := w.event(); ev != nil && ev.ModelCalled {
		footer += " · " + formatDuration(ev.Forward)
	}
	if w.n == len(w.hist.Events) && w.n > 0 && w.masked == 0 {
		footer += " · done"
	}
	r.text(x0, y, runewidth.Truncate(footer, cols, "…"), r.pens.dim, cols)
	y += r.lineH + 1
	start := w.hist.Initial.Masked(w.hist.Mask)
	r.fill(image.Rect(x0, y, x0+r.paneW, y+3), r.pens.border)
	if start > 0 {
		done := r.paneW * (start - min(w.masked, start)) / start
		r.fill(image.Rect(x0, y, x0+done, y+3), r.pens.accentFill)
	}
}

func (r *gifRenderer) drawSegment(w *paneWalker, seg segment, x0, y int) {
	x := x0 + seg.col*r.cellW
	p := r.pens.text
	switch w.class(seg.pos, !r.opts.Plain) {
	case classFixed:
		p = r.pens.dim
	case classMask:
		p = r.pens.mask
	case classSteered:
		p = r.pens.steered
	case classFresh:
		p = r.pens.fresh
		r.fill(image.Rect(x, y, x+runewidth.StringWidth(seg.text)*r.cellW, y+r.lineH), r.pens.freshBG)
	case classHeat:
		p = r.pens.heat[heatBucket(w.reveal[seg.pos].Prob, len(r.pens.heat))]
	}
	r.text(x, y, seg.text, p, r.opts.Columns-seg.col)
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func (r *gifRenderer) fill(rect image.Rectangle, idx uint8) {
	rect = rect.Intersect(r.img.Rect)
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		row := r.img.Pix[y*r.img.Stride+rect.Min.X : y*r.img.Stride+rect.Max.X]
		for i := range row {
			row[i] = idx
		}
	}
}

// text draws s from (x, y) with at most maxCells cells and returns the
// cells used. Zero-width characters are skipped.
func (r *gifRenderer) text(x, y int, s string, p pen, maxCells int) int {
	col := 0
	for _, ch := range s {
		cw := runewidth.RuneWidth(ch)
		if cw == 0 {
			continue
		}
		if col+cw > maxCells {
			break
		}
		r.blit(r.glyph(ch, cw), x+col*r.cellW, y, p)
		col += cw
	}
	return col
}

// blit draws a glyph's coverage with a pen, quantised to the pen's levels.
func (r *gifRenderer) blit(g *image.Alpha, x, y int, p pen) {
	b := g.Rect
	for gy := 0; gy < b.Dy(); gy++ {
		py := y + gy
		if py < 0 || py >= r.img.Rect.Dy() {
			continue
		}
		src := g.Pix[gy*g.Stride : gy*g.Stride+b.Dx()]
		dst := r.img.Pix[py*r.img.Stride:]
		for gx, a := range src {
			level := (int(a)*4 + 127) / 255
			if level == 0 || x+gx >= r.img.Rect.Dx() {
				continue
			}
			dst[x+gx] = p[level]
		}
	}
}

// glyph rasterises a character once into a cell-sized coverage mask; a
// character the font lacks is drawn as U+FFFD.
func (r *gifRenderer) glyph(ch rune, cells int) *image.Alpha {
	if g, ok := r.glyphs[ch]; ok {
		return g
	}
	draw := ch
	var buf sfnt.Buffer
	if idx, err := r.font.GlyphIndex(&buf, ch); err != nil || idx == 0 {
		draw = '\uFFFD'
	}
	g := image.NewAlpha(image.Rect(0, 0, cells*r.cellW, r.lineH))
	d := font.Drawer{Dst: g, Src: image.Opaque, Face: r.face, Dot: fixed.P(0, r.ascent+1)}
	d.DrawString(string(draw))
	r.glyphs[ch] = g
	return g
}
