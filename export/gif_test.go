package export

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"os"
	"strings"
	"testing"
	"time"

	"diffuapriel/engine"
	"diffuapriel/themes"
)

func renderGIF(t *testing.T, tr *engine.Trace, o GIFOptions) *gif.GIF {
	t.Helper()
	var buf bytes.Buffer
	if err := GIF(&buf, tr, o); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("EXPORT_SAVE_DIR"); dir != "" { // for looking at the output
		os.WriteFile(dir+"/"+strings.ReplaceAll(t.Name(), "/", "_")+".gif", buf.Bytes(), 0o644)
	}
	g, err := gif.DecodeAll(&buf)
	if err != nil {
		t.Fatalf("the GIF does not decode: %v", err)
	}
	return g
}

// composite paints the frames in order, as a viewer does (disposal none).
func composite(g *gif.GIF, upto int) *image.Paletted {
	canvas := image.NewPaletted(image.Rect(0, 0, g.Config.Width, g.Config.Height), g.Image[0].Palette)
	for _, fr := range g.Image[:upto+1] {
		b := fr.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			copy(canvas.Pix[y*canvas.Stride+b.Min.X:y*canvas.Stride+b.Max.X], fr.Pix[(y-b.Min.Y)*fr.Stride:(y-b.Min.Y)*fr.Stride+b.Dx()])
		}
	}
	return canvas
}

func countColor(img *image.Paletted, c color.Color) int {
	idx := -1
	for i, pc := range img.Palette {
		r1, g1, b1, _ := pc.RGBA()
		r2, g2, b2, _ := c.RGBA()
		if r1 == r2 && g1 == g2 && b1 == b2 {
			idx = i
		}
	}
	n := 0
	for _, p := range img.Pix {
		if int(p) == idx {
			n++
		}
	}
	return n
}

func TestGIFFrameCountSizeAndTiming(t *testing.T) {
	tr := singleTrace(t)
	events := len(tr.Panes[0].Events)
	for i := range tr.Panes[0].Events {
		tr.Panes[0].Events[i].Forward = time.Millisecond
	}
	calls, lastDone := 0, 0
	progress := func(done, total int) {
		calls++
		if done != lastDone+1 || total != events+1 {
			t.Errorf("progress %d/%d after %d", done, total, lastDone)
		}
		lastDone = done
	}
	g := renderGIF(t, tr, GIFOptions{Columns: 40, MaxLines: 10, Progress: progress})
	if len(g.Image) != events+1 {
		t.Fatalf("%d frames for %d events, want events+1", len(g.Image), events)
	}
	if calls != events+1 {
		t.Errorf("progress called %d times for %d frames", calls, events+1)
	}
	// Size: 1 pane of 40 columns at the default 14px font (hinted Go Mono: 8px cells).
	cell := 8
	if want := 40*cell + 4*cell; g.Config.Width != want {
		t.Errorf("width %d, want %d", g.Config.Width, want)
	}
	if g.Image[0].Bounds() != image.Rect(0, 0, g.Config.Width, g.Config.Height) {
		t.Errorf("first frame %v is not the full %dx%d screen", g.Image[0].Bounds(), g.Config.Width, g.Config.Height)
	}
	for i, fr := range g.Image {
		if !fr.Bounds().In(image.Rect(0, 0, g.Config.Width, g.Config.Height)) {
			t.Fatalf("frame %d out of bounds: %v", i, fr.Bounds())
		}
	}
	if g.LoopCount != 0 {
		t.Errorf("loop count %d, want 0 (forever)", g.LoopCount)
	}
	// Recorded timing: 1ms steps are far below the minimum.
	for i, d := range g.Delay[:events] {
		if d != 8 {
			t.Errorf("frame %d lasts %d cs, want the 8 cs minimum", i, d)
		}
	}
	if g.Delay[events] != 200 {
		t.Errorf("last frame lasts %d cs, want the 2s hold", g.Delay[events])
	}
	fixed := renderGIF(t, tr, GIFOptions{Columns: 40, MaxLines: 10, FPS: 4, Hold: time.Second})
	if fixed.Delay[0] != 25 || fixed.Delay[events] != 100 {
		t.Errorf("fps 4 gave delays %v", fixed.Delay)
	}
}

func TestGIFRecordedStepTimes(t *testing.T) {
	tr := singleTrace(t)
	for i := range tr.Panes[0].Events {
		tr.Panes[0].Events[i].Forward = time.Duration(i+1) * 100 * time.Millisecond
	}
	g := renderGIF(t, tr, GIFOptions{Columns: 30, MaxLines: 6})
	// Frame n stays up while event n computes: (n+1) * 100ms.
	for n := range len(g.Delay) - 1 {
		if want := (n + 1) * 10; g.Delay[n] != want {
			t.Errorf("frame %d: %d cs, want %d", n, g.Delay[n], want)
		}
	}
}

func TestGIFDrawsThemeStates(t *testing.T) {
	tr := singleTrace(t)
	theme, _ := themes.Get("light")
	g := renderGIF(t, tr, GIFOptions{Columns: 40, MaxLines: 10, Theme: theme})
	c, _ := themeColors(theme)
	first := composite(g, 0)
	if countColor(first, c.freshBG) != 0 {
		t.Error("frame 0 highlights a reveal")
	}
	if countColor(first, c.mask) == 0 || countColor(first, c.dim) == 0 {
		t.Error("frame 0 lacks mask glyphs or the dim prompt")
	}
	second := composite(g, 1)
	if countColor(second, c.freshBG) == 0 {
		t.Error("frame 1 does not highlight its reveals")
	}
	last := composite(g, len(g.Image)-1)
	heat := 0
	for _, h := range c.heat {
		heat += countColor(last, h)
	}
	if heat == 0 {
		t.Error("last frame has no heat-coloured tokens")
	}
	if countColor(last, c.mask) != 0 {
		t.Error("last frame still shows masks")
	}
	plain := renderGIF(t, tr, GIFOptions{Columns: 40, MaxLines: 10, Theme: theme, Plain: true})
	heat = 0
	for _, h := range c.heat {
		heat += countColor(composite(plain, len(plain.Image)-1), h)
	}
	if heat != 0 {
		t.Error("Plain still uses heat colours")
	}
}

func TestGIFComparePanesSideBySide(t *testing.T) {
	tr := compareTrace(t)
	g := renderGIF(t, tr, GIFOptions{Columns: 30, MaxLines: 8})
	most := max(len(tr.Panes[0].Events), len(tr.Panes[1].Events))
	if len(g.Image) != most+1 {
		t.Fatalf("%d frames, want %d", len(g.Image), most+1)
	}
	if want := 2*30*8 + 6*8; g.Config.Width != want {
		t.Errorf("width %d, want %d", g.Config.Width, want)
	}
}

func TestGIFLongTraceSampled(t *testing.T) {
	tr := singleTrace(t)
	events := len(tr.Panes[0].Events)
	g := renderGIF(t, tr, GIFOptions{Columns: 30, MaxLines: 4, MaxFrames: 4})
	if len(g.Image) != 4 {
		t.Fatalf("%d frames with MaxFrames 4", len(g.Image))
	}
	frames := sampledFrames(events+1, 4)
	if frames[0] != 0 || frames[len(frames)-1] != events {
		t.Fatalf("sampled frames %v miss the first or last", frames)
	}
}

func TestGIFCutsLongText(t *testing.T) {
	tr := singleTrace(t)
	g := renderGIF(t, tr, GIFOptions{Columns: 8, MaxLines: 3})
	small := renderGIF(t, tr, GIFOptions{Columns: 8, MaxLines: 30})
	if g.Config.Height >= small.Config.Height {
		t.Fatalf("3 lines gave height %d, 30 lines %d", g.Config.Height, small.Config.Height)
	}
}

func TestGIFRejectsBadOptions(t *testing.T) {
	tr := singleTrace(t)
	for _, o := range []GIFOptions{{Columns: -1}, {FPS: -2}, {FPS: 60}, {FontSize: 1000}, {MaxFrames: 1}, {MaxLines: 100000},
		{Theme: themes.Theme{Name: "broken", Text: "red"}}} {
		if err := GIF(&bytes.Buffer{}, tr, o); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("options %+v: err %v, want a one-line error", o, err)
		}
	}
}
