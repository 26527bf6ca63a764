package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"diffuapriel/engine"
	"diffuapriel/tokenizer"
)

func renderHTML(t *testing.T, tr *engine.Trace, o HTMLOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, tr, o); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var dataScript = regexp.MustCompile(`(?s)<script type="application/json" id="trace-data">(.*?)</script>`)

// embedded returns the page's data and the page without it.
func embedded(t *testing.T, page string) (*pageData, string) {
	t.Helper()
	m := dataScript.FindStringSubmatchIndex(page)
	if m == nil {
		t.Fatal("no trace data in the page")
	}
	var d pageData
	if err := json.Unmarshal([]byte(page[m[2]:m[3]]), &d); err != nil {
		t.Fatalf("embedded data is not JSON: %v", err)
	}
	return &d, page[:m[2]] + page[m[3]:]
}

// expectedPieces is what a pane should show at frame n: the tokenizer's
// pieces of History.CanvasAt(n), masked positions empty.
func expectedPieces(t *testing.T, h *engine.History, n int) []string {
	tok, _ := tokenizer.GPT2()
	c := h.CanvasAt(n)
	pieces := tok.Pieces(c.Tokens)
	for i, id := range c.Tokens {
		if id == h.Mask {
			pieces[i] = ""
		}
	}
	return pieces
}

func TestHTMLPageIsSelfContained(t *testing.T) {
	page := renderHTML(t, compareTrace(t), HTMLOptions{})
	_, shell := embedded(t, page)
	if !strings.Contains(shell, `http-equiv="Content-Security-Policy" content="default-src 'none';`) {
		t.Error("no Content-Security-Policy forbidding the network")
	}
	for _, ref := range []string{"http:", "https:", "src=", "href=", "@import", "url(", "//cdn"} {
		if strings.Contains(shell, ref) {
			t.Errorf("the page refers to something outside itself: %q", ref)
		}
	}
}

func TestHTMLEscapesModelText(t *testing.T) {
	tr := hostileTrace(t)
	page := renderHTML(t, tr, HTMLOptions{Title: "</title><script>alert(4)</script>"})
	if n := strings.Count(strings.ToLower(page), "</script"); n != 2 {
		t.Errorf("%d </script tags, want the template's 2", n)
	}
	if strings.Contains(page, "<img") || strings.Contains(page, "<b>evil") || strings.Contains(page, "\u2028") {
		t.Error("model text reached the page unescaped")
	}
	if !strings.Contains(page, "<title>&lt;/title&gt;&lt;script&gt;alert(4)&lt;/script&gt;</title>") {
		t.Error("title not escaped")
	}
	d, _ := embedded(t, page)
	if !strings.Contains(d.Prompt, "</script><script>alert(1)</script><img src=x") || d.Panes[0].Model != tr.Header.Panes[0].Model {
		t.Errorf("hostile text did not survive as data: prompt %q model %q", d.Prompt, d.Panes[0].Model)
	}
	if !strings.Contains(strings.Join(d.Panes[0].Init, ""), "<img src=x onerror=alert(2)>") {
		t.Error("the prompt's tokens lost their text")
	}
}

// Replaying the embedded changes as the page's script does must give the
// tokenizer's text of History.CanvasAt at every frame.
func TestHTMLDataReplaysTrace(t *testing.T) {
	for _, tr := range []*engine.Trace{singleTrace(t), compareTrace(t), hostileTrace(t)} {
		d, _ := embedded(t, renderHTML(t, tr, HTMLOptions{}))
		if d.Frames != frameCount(tr) || len(d.Panes) != len(tr.Panes) {
			t.Fatalf("%d frames and %d panes, want %d and %d", d.Frames, len(d.Panes), frameCount(tr), len(tr.Panes))
		}
		for pi, p := range d.Panes {
			h := tr.Panes[pi]
			text := append([]string(nil), p.Init...)
			if strings.Join(text, "|") != strings.Join(expectedPieces(t, h, 0), "|") {
				t.Fatalf("pane %d frame 0: %q", pi, text)
			}
			for n, ev := range p.Events {
				fresh := 0
				for _, ch := range ev.Changes {
					text[ch.Pos] = ch.Text
					if ch.Kind == "r" {
						fresh++
						if ch.Prob == 0 || len(ch.Top) == 0 {
							t.Errorf("pane %d frame %d: reveal at %d lacks its probability or candidates", pi, n+1, ch.Pos)
						}
					}
				}
				want := expectedPieces(t, h, n+1)
				if strings.Join(text, "|") != strings.Join(want, "|") {
					t.Fatalf("pane %d frame %d:\n got %q\nwant %q", pi, n+1, text, want)
				}
				if ev.Masks != h.CanvasAt(n+1).Masked(h.Mask) {
					t.Errorf("pane %d frame %d: %d masks, want %d", pi, n+1, ev.Masks, h.CanvasAt(n+1).Masked(h.Mask))
				}
				if fresh == 0 && len(h.Events[n].Revealed) > 0 {
					t.Errorf("pane %d frame %d: no reveals recorded", pi, n+1)
				}
			}
		}
		for id, text := range d.Vocab {
			if id < 0 || strings.ContainsAny(text, "\x1b\x07") {
				t.Errorf("vocab entry %d = %q", id, text)
			}
		}
	}
}

func TestHTMLTrimsCandidates(t *testing.T) {
	tr := singleTrace(t)
	full, _ := embedded(t, renderHTML(t, tr, HTMLOptions{}))
	small, _ := embedded(t, renderHTML(t, tr, HTMLOptions{MaxCandidates: 10}))
	count := func(d *pageData) (n int) {
		for _, p := range d.Panes {
			for _, ev := range p.Events {
				for _, c := range ev.Cands {
					n += len(c.Top)
				}
			}
		}
		return n
	}
	if full.Trimmed || count(full) <= 10 {
		t.Fatalf("full page: trimmed %v with %d candidates", full.Trimmed, count(full))
	}
	if !small.Trimmed || count(small) > 10 {
		t.Fatalf("bounded page: trimmed %v with %d candidates", small.Trimmed, count(small))
	}
}

func findChromium() string {
	if c := os.Getenv("CHROMIUM"); c != "" {
		return c
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

var paneText = regexp.MustCompile(`(?s)<section class="pane[^"]*" data-pane="(\d+)".*?<div class="text">(.*?)</div>`)
var tags = regexp.MustCompile(`<[^>]*>`)

// TestHTMLInChromium runs scripts/html_check.sh: headless Chromium opens the
// page at a step with a token selected, the script checks the DOM, takes a
// screenshot and plays; then the text each pane shows is compared with the
// trace.
func TestHTMLInChromium(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		t.Skip("chromium not found on PATH (apt-get install chromium): skipping the headless HTML page check")
	}
	if runtime.GOOS == "windows" {
		t.Skip("scripts/html_check.sh needs bash")
	}
	script, _ := filepath.Abs("../scripts/html_check.sh")
	// One page covers compare panes, steering and hostile text: each
	// Chromium start costs seconds on a small CI machine.
	for name, tr := range map[string]*engine.Trace{"hostile compare": hostileTrace(t)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			page := filepath.Join(dir, "page.html")
			if err := os.WriteFile(page, []byte(renderHTML(t, tr, HTMLOptions{})), 0o644); err != nil {
				t.Fatal(err)
			}
			step := (frameCount(tr) - 1) / 2
			var masks []string
			fresh := 0
			var want []string
			sel := -1
			for pi, h := range tr.Panes {
				w := newPaneWalker(h)
				for w.n < step && w.advance() {
				}
				masks = append(masks, fmt.Sprint(w.masked))
				pieces := expectedPieces(t, h, step)
				for pos := range w.tokens {
					if w.class(pos, false) == classFresh {
						fresh++
					}
					if pieces[pos] == "" && w.tokens[pos] == h.Mask {
						pieces[pos] = maskGlyph
					}
					if pi == 0 && sel < 0 && w.class(pos, false) == classFresh {
						sel = pos
					}
				}
				want = append(want, strings.Join(pieces, ""))
			}
			out := filepath.Join(dir, "out")
			cmd := exec.Command("bash", script, page, out, fmt.Sprint(step), fmt.Sprintf("0:%d", max(sel, 0)))
			cmd.Env = append(os.Environ(), "CHROMIUM="+browser, "EXPECT_MASKS="+strings.Join(masks, " "), fmt.Sprintf("EXPECT_FRESH=%d", fresh))
			res, err := cmd.CombinedOutput()
			t.Logf("%s", bytes.TrimSpace(res))
			if err != nil {
				t.Fatalf("html_check failed: %v", err)
			}
			dom, _ := os.ReadFile(filepath.Join(out, "dom.html"))
			got := paneText.FindAllStringSubmatch(string(dom), -1)
			if len(got) != len(want) {
				t.Fatalf("found %d pane texts in the DOM, want %d", len(got), len(want))
			}
			for i, m := range got {
				if text := html.UnescapeString(tags.ReplaceAllString(m[2], "")); text != want[i] {
					t.Errorf("pane %d shows\n%q\nwant\n%q", i, text, want[i])
				}
			}
			f, err := os.Open(filepath.Join(out, "screenshot.png"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			colors := map[[3]uint32]bool{}
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y += 4 {
				for x := b.Min.X; x < b.Max.X; x += 4 {
					r, g, bl, _ := img.At(x, y).RGBA()
					colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
				}
			}
			if b.Dx() != 1280 || b.Dy() != 800 || len(colors) < 8 {
				t.Errorf("screenshot %v with %d colours: not a rendered page", b, len(colors))
			}
		})
	}
}
