package export

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"diffuapriel/engine"
	"diffuapriel/models"
	"diffuapriel/tokenizer"
)

// traceSpec describes a run recorded through the real engine: a tiny
// randomly initialised model per pane on the CPU backend.
type traceSpec struct {
	backbones []string // one per pane
	prompt    string
	length    int
	opts      engine.Options
	steerAt   int    // > 0: after this many events, pane 0 pins one position and re-masks another
	model     string // display name of every pane; "": the config's name
}

// recordTrace runs the generation and writes it with engine.NewTraceWriter,
// returning the trace bytes (as `generate --trace` or the playground would).
func recordTrace(t testing.TB, s traceSpec) []byte {
	t.Helper()
	tok, err := tokenizer.GPT2()
	if err != nil {
		t.Fatal(err)
	}
	var panes []engine.PaneInfo
	var runs []*engine.Run
	var canvas engine.Canvas
	var mask int32
	for i, bb := range s.backbones {
		cfg, err := models.Preset("tiny", bb)
		if err != nil {
			t.Fatal(err)
		}
		b := engine.NewCPU(1)
		if err := b.Load(models.RandomInit(cfg, uint64(7+i)), nil); err != nil {
			t.Fatal(err)
		}
		mask = int32(cfg.MaskTokenID)
		canvas, err = engine.ParsePrompt(tok, s.prompt, s.length, mask, cfg.MaxSeqLen)
		if err != nil {
			t.Fatal(err)
		}
		run, err := engine.NewRun(b, cfg, canvas, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
		name := cfg.Name
		if s.model != "" {
			name = s.model
		}
		panes = append(panes, engine.PaneInfo{Model: name, Path: "init:tiny:" + bb,
			Params: models.ParamCount(cfg), Backend: b.Name(), Device: b.Device(), Config: cfg})
	}
	var buf bytes.Buffer
	tw, err := engine.NewTraceWriter(&buf, engine.TraceHeader{Created: time.Unix(1700000000, 0).UTC(),
		Prompt: s.prompt, Length: s.length, Options: s.opts, Canvas: canvas, Mask: mask, Panes: panes})
	if err != nil {
		t.Fatal(err)
	}
	for pane, run := range runs {
		for events := 0; !run.Done(); events++ {
			if pane == 0 && s.steerAt > 0 && events == s.steerAt {
				steer(t, tw, run, events, mask)
			}
			ev, err := run.Step()
			if err != nil {
				t.Fatal(err)
			}
			if err := tw.Step(pane, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.Bytes()
}

// steer pins the first revealed generated position to another token and
// re-masks the second, recording both edits as the playground does.
func steer(t testing.TB, tw *engine.TraceWriter, run *engine.Run, before int, mask int32) {
	t.Helper()
	c := run.Canvas()
	var revealed []int
	for i, tk := range c.Tokens {
		if !c.Fixed[i] && tk != mask {
			revealed = append(revealed, i)
		}
	}
	if len(revealed) < 2 {
		t.Fatalf("only %d positions revealed after %d events: cannot steer", len(revealed), before)
	}
	pin := int32(464) // GPT-2 " The"
	if err := run.Pin(revealed[0], pin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Steer(0, engine.Edit{Before: before, Pos: revealed[0], Token: pin}); err != nil {
		t.Fatal(err)
	}
	if err := run.Remask(revealed[1]); err != nil {
		t.Fatal(err)
	}
	if err := tw.Steer(0, engine.Edit{Before: before, Pos: revealed[1], Token: mask}); err != nil {
		t.Fatal(err)
	}
}

func readTrace(t testing.TB, data []byte) *engine.Trace {
	t.Helper()
	tr, err := engine.ReadTrace(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func options(sampler string, steps int) engine.Options {
	o := engine.DefaultOptions()
	o.Sampler, o.Steps = sampler, steps
	return o
}

// Cached traces: the CPU forward passes are the slow part of these tests.
var traceCache = map[string][]byte{}

func cachedTrace(t testing.TB, name string, s traceSpec) *engine.Trace {
	t.Helper()
	if traceCache[name] == nil {
		traceCache[name] = recordTrace(t, s)
	}
	return readTrace(t, traceCache[name])
}

func singleTrace(t testing.TB) *engine.Trace {
	return cachedTrace(t, "single", traceSpec{backbones: []string{models.BackboneMamba},
		prompt: "The quick brown fox", length: 24, opts: options("confidence", 8), steerAt: 3})
}

func compareTrace(t testing.TB) *engine.Trace {
	o := options("entropy", 6)
	o.BlockLength = 8
	return cachedTrace(t, "compare", traceSpec{backbones: []string{models.BackboneMamba, models.BackboneTransformer},
		prompt: "Once upon a [MASK:4] there", length: 16, opts: o})
}

// hostileTrace carries markup and script in the prompt and the model names,
// as untrusted text a page must show as text; it compares two models and
// steers the first.
func hostileTrace(t testing.TB) *engine.Trace {
	return cachedTrace(t, "hostile", traceSpec{backbones: []string{models.BackboneHybrid, models.BackboneTransformer}, steerAt: 2,
		prompt: "Hi </script><script>alert(1)</script><img src=x onerror=alert(2)> & \"q\" \u2028 <!-- end",
		length: 10, opts: options("margin", 5), model: "<b>evil</b></title><script>alert(3)</script>"})
}

// The walker must reproduce History.CanvasAt at every frame, steering
// included, since both exports draw from it.
func TestWalkerMatchesCanvasAt(t *testing.T) {
	for _, tr := range []*engine.Trace{singleTrace(t), compareTrace(t), hostileTrace(t)} {
		for p, h := range tr.Panes {
			w := newPaneWalker(h)
			for n := 0; ; n++ {
				want := h.CanvasAt(n)
				if !slices.Equal(w.tokens, want.Tokens) || w.masked != want.Masked(h.Mask) {
					t.Fatalf("pane %d frame %d: walker %v, CanvasAt %v", p, n, w.tokens, want.Tokens)
				}
				for pos := range w.tokens {
					origin, _ := h.Origin(pos, n)
					if w.origin[pos] >= 0 && w.origin[pos] != origin {
						t.Fatalf("pane %d frame %d pos %d: origin %d, History.Origin %d", p, n, pos, w.origin[pos], origin)
					}
				}
				if !w.advance() {
					if n != len(h.Events) {
						t.Fatalf("pane %d stopped at frame %d of %d", p, n, len(h.Events))
					}
					break
				}
			}
		}
	}
	if len(singleTrace(t).Panes[0].Edits) != 2 {
		t.Fatal("the single trace lost its steering edits")
	}
}
