package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"diffuapriel/models"
)

// tinyModel returns a CPU backend loaded with a random-init tiny model.
func tinyModel(t testing.TB, backbone string) (Backend, *models.Config) {
	t.Helper()
	cfg, err := models.Preset("tiny", backbone)
	if err != nil {
		t.Fatal(err)
	}
	b := NewCPU(0)
	if err := b.Load(models.RandomInit(cfg, 7), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, cfg
}

// testCanvas is a fixed prompt of 5 tokens, a 6-mask infill span, 3 fixed
// tokens and n generated masks.
func testCanvas(cfg *models.Config, n int) Canvas {
	mask := int32(cfg.MaskTokenID)
	var c Canvas
	add := func(tok int32, fixed bool, count int) {
		for range count {
			c.Tokens = append(c.Tokens, tok)
			c.Fixed = append(c.Fixed, fixed)
		}
	}
	add(464, true, 5)
	add(mask, false, 6)
	add(3797, true, 3)
	add(mask, false, n)
	return c
}

func runAll(t *testing.T, b Backend, cfg *models.Config, c Canvas, o Options) (*Run, []StepEvent) {
	t.Helper()
	r, err := NewRun(b, cfg, c, o)
	if err != nil {
		t.Fatal(err)
	}
	return r, drain(t, r, 10*o.Steps+10)
}

// drain steps a run to its end (at most limit events) and checks that a
// finished run refuses another step.
func drain(t *testing.T, r *Run, limit int) []StepEvent {
	t.Helper()
	var evs []StepEvent
	for !r.Done() {
		ev, err := r.Step()
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		if len(evs) > limit {
			t.Fatal("run does not finish")
		}
	}
	if _, err := r.Step(); err != ErrDone {
		t.Fatalf("Step after the end returned %v, want ErrDone", err)
	}
	return evs
}

// checkInvariants asserts what every sampler guarantees: fixed tokens never
// change, a position is revealed once and keeps its token, masks only
// decrease, and nothing is masked at the end.
func checkInvariants(t *testing.T, cfg *models.Config, start Canvas, r *Run, evs []StepEvent) {
	t.Helper()
	mask := int32(cfg.MaskTokenID)
	state := start.Clone()
	for i, ev := range evs {
		if ev.Index != i {
			t.Fatalf("event %d has index %d", i, ev.Index)
		}
		for _, rv := range ev.Revealed {
			if start.Fixed[rv.Pos] {
				t.Fatalf("event %d revealed fixed position %d", i, rv.Pos)
			}
			if state.Tokens[rv.Pos] != mask {
				t.Fatalf("event %d re-revealed position %d", i, rv.Pos)
			}
			if rv.Token == mask || rv.Token < 0 || int(rv.Token) >= cfg.VocabSize {
				t.Fatalf("event %d revealed invalid token %d", i, rv.Token)
			}
			state.Tokens[rv.Pos] = rv.Token
		}
		if got := state.Masked(mask); got != ev.MasksLeft {
			t.Fatalf("event %d says %d masks left, canvas has %d", i, ev.MasksLeft, got)
		}
	}
	final := r.Canvas()
	for i := range final.Tokens {
		if final.Tokens[i] != state.Tokens[i] {
			t.Fatalf("position %d: run has %d, events give %d", i, final.Tokens[i], state.Tokens[i])
		}
		if start.Fixed[i] && final.Tokens[i] != start.Tokens[i] {
			t.Fatalf("fixed position %d changed", i)
		}
	}
	if final.Masked(mask) != 0 || !evs[len(evs)-1].Done {
		t.Fatalf("%d masks left at the end", final.Masked(mask))
	}
}

func TestEverySamplerKeepsInvariants(t *testing.T) {
	for _, bb := range []string{models.BackboneMamba, models.BackboneHybrid, models.BackboneTransformer} {
		b, cfg := tinyModel(t, bb)
		for _, sampler := range SamplerNames {
			o := DefaultOptions()
			o.Steps, o.Sampler, o.Threshold = 8, sampler, 0.05
			start := testCanvas(cfg, 20)
			r, evs := runAll(t, b, cfg, start, o)
			checkInvariants(t, cfg, start, r, evs)
		}
	}
	// Every schedule, with the sampler most sensitive to the reveal counts.
	b, cfg := tinyModel(t, models.BackboneMamba)
	for _, sched := range ScheduleNames {
		o := DefaultOptions()
		o.Steps, o.Sampler, o.Schedule = 8, "ancestral", sched
		start := testCanvas(cfg, 20)
		r, evs := runAll(t, b, cfg, start, o)
		checkInvariants(t, cfg, start, r, evs)
	}
}

func TestRemaskingRevealsScheduledCount(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneMamba)
	for _, sched := range ScheduleNames {
		o := DefaultOptions()
		o.Steps, o.Schedule, o.Sampler = 10, sched, "entropy"
		start := testCanvas(cfg, 30)
		r, err := NewRun(b, cfg, start, o)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := NewSchedule(sched, cfg.Noise)
		masked := start.Masked(int32(cfg.MaskTokenID))
		for !r.Done() {
			ev, err := r.Step()
			if err != nil {
				t.Fatal(err)
			}
			if ev.NoiseRemoval {
				if len(ev.Revealed) != masked {
					t.Fatalf("%s: noise removal revealed %d of %d", sched, len(ev.Revealed), masked)
				}
				break
			}
			want := max(1, int(math.Round(float64(masked)*s.RevealFraction(ev.T, ev.S))))
			want = min(want, masked)
			if len(ev.Revealed) != want {
				t.Fatalf("%s step %d (t=%.3f s=%.3f): revealed %d of %d masked, schedule says %d",
					sched, ev.Step, ev.T, ev.S, len(ev.Revealed), masked, want)
			}
			if !ev.ModelCalled || len(ev.Candidates) != masked-want {
				t.Fatalf("step %d: %d candidates for %d still masked", ev.Step, len(ev.Candidates), masked-want)
			}
			masked -= want
		}
	}
}

func TestConfidenceRevealsMostConfidentFirst(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneTransformer)
	o := DefaultOptions()
	o.Steps, o.Sampler = 6, "confidence"
	_, evs := runAll(t, b, cfg, testCanvas(cfg, 24), o)
	for _, ev := range evs {
		lowestRevealed := float32(math.Inf(1))
		for _, rv := range ev.Revealed {
			lowestRevealed = min(lowestRevealed, rv.Score)
		}
		for _, c := range ev.Candidates {
			if c.Prob > lowestRevealed {
				t.Fatalf("step %d left position %d (p=%.4f) masked but revealed one with p=%.4f", ev.Step, c.Pos, c.Prob, lowestRevealed)
			}
		}
	}
}

func TestThresholdRevealsEveryConfidentPosition(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneMamba)
	o := DefaultOptions()
	o.Sampler, o.Threshold, o.Steps = "threshold", 0.01, 16
	_, evs := runAll(t, b, cfg, testCanvas(cfg, 24), o)
	for _, ev := range evs {
		if ev.NoiseRemoval {
			continue
		}
		above := 0
		for _, rv := range ev.Revealed {
			if rv.Prob >= float32(o.Threshold) {
				above++
			}
		}
		if len(ev.Revealed) > 1 && above != len(ev.Revealed) {
			t.Fatalf("step %d revealed %d positions, only %d above tau", ev.Step, len(ev.Revealed), above)
		}
		for _, c := range ev.Candidates {
			if c.Prob >= float32(o.Threshold) {
				t.Fatalf("step %d left a position above tau masked (p=%.4f)", ev.Step, c.Prob)
			}
		}
	}
}

func TestAncestralCacheSkipsCallsThatRevealNothing(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneMamba)
	o := DefaultOptions()
	o.Steps, o.Sampler = 64, "ancestral-cache"
	start := testCanvas(cfg, 6)
	_, evs := runAll(t, b, cfg, start, o)
	calls, skipped := 0, 0
	for _, ev := range evs {
		if ev.ModelCalled {
			calls++
		}
		if len(ev.Revealed) == 0 {
			if ev.ModelCalled {
				t.Fatalf("step %d revealed nothing but called the model", ev.Step)
			}
			skipped++
		}
	}
	if skipped == 0 || calls > 12 {
		t.Fatalf("12 masks over 64 steps: %d calls, %d skipped steps", calls, skipped)
	}
	o.Sampler = "ancestral"
	_, evs = runAll(t, b, cfg, start, o)
	for _, ev := range evs {
		if !ev.ModelCalled {
			t.Fatalf("ancestral step %d did not call the model", ev.Step)
		}
	}
}

func TestSemiAutoregressiveBlocksGoLeftToRight(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneHybrid)
	o := DefaultOptions()
	o.Steps, o.BlockLength = 12, 10
	start := testCanvas(cfg, 24) // 30 generated positions: 3 blocks of 10
	r, evs := runAll(t, b, cfg, start, o)
	checkInvariants(t, cfg, start, r, evs)
	var generated []int
	for i, f := range start.Fixed {
		if !f {
			generated = append(generated, i)
		}
	}
	blockOf := map[int]int{}
	for k, p := range generated {
		blockOf[p] = k / 10
	}
	lastBlock := 0
	for _, ev := range evs {
		if ev.Blocks != 3 {
			t.Fatalf("event reports %d blocks, want 3", ev.Blocks)
		}
		if ev.Block < lastBlock {
			t.Fatalf("block went back from %d to %d", lastBlock, ev.Block)
		}
		lastBlock = ev.Block
		for _, rv := range ev.Revealed {
			if blockOf[rv.Pos] > ev.Block {
				t.Fatalf("block %d revealed position %d of block %d", ev.Block, rv.Pos, blockOf[rv.Pos])
			}
		}
	}
	if lastBlock != 2 {
		t.Fatalf("finished in block %d, want 2", lastBlock)
	}
}

// eventsJSON drops timings, which differ from run to run.
func eventsJSON(t *testing.T, evs []StepEvent) string {
	var sb strings.Builder
	for _, ev := range evs {
		ev.Forward = 0
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(b)
	}
	return sb.String()
}

func TestSameSeedSameTrace(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneMamba)
	for _, sampler := range []string{"ancestral", "random", "confidence"} {
		o := DefaultOptions()
		o.Steps, o.Sampler, o.Seed = 8, sampler, 42
		_, a := runAll(t, b, cfg, testCanvas(cfg, 16), o)
		_, c := runAll(t, b, cfg, testCanvas(cfg, 16), o)
		if eventsJSON(t, a) != eventsJSON(t, c) {
			t.Fatalf("%s: same seed gave different traces", sampler)
		}
		o.Seed = 43
		_, d := runAll(t, b, cfg, testCanvas(cfg, 16), o)
		if eventsJSON(t, a) == eventsJSON(t, d) {
			t.Fatalf("%s: seeds 42 and 43 gave the same trace", sampler)
		}
	}
}

func TestResumeFromHistoryContinuesIdentically(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneMamba)
	o := DefaultOptions()
	o.Steps, o.Sampler, o.BlockLength = 10, "ancestral", 8
	start := testCanvas(cfg, 18)
	_, evs := runAll(t, b, cfg, start, o)
	h := NewHistory(start, int32(cfg.MaskTokenID))
	for _, ev := range evs {
		if err := h.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	at := len(evs) / 2
	r, err := NewRun(b, cfg, h.CanvasAt(at), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Seek(h.ScheduledSteps(at), at); err != nil {
		t.Fatal(err)
	}
	rest := drain(t, r, len(evs))
	if eventsJSON(t, rest) != eventsJSON(t, evs[at:]) {
		t.Fatal("resumed run diverged from the original")
	}
}

func TestSteeringPinAndRemask(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneTransformer)
	mask := int32(cfg.MaskTokenID)
	o := DefaultOptions()
	o.Steps = 6
	start := testCanvas(cfg, 10)
	r, err := NewRun(b, cfg, start, o)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := r.Step()
	if err != nil {
		t.Fatal(err)
	}
	revealed := ev.Revealed[0].Pos
	if err := r.Remask(revealed); err != nil {
		t.Fatal(err)
	}
	pinned := -1
	for i, tok := range r.Canvas().Tokens {
		if tok == mask && i != revealed {
			pinned = i
			break
		}
	}
	if err := r.Pin(pinned, 1000); err != nil {
		t.Fatal(err)
	}
	if err := r.Pin(0, 1000); err == nil {
		t.Fatal("pinning a prompt token succeeded")
	}
	if err := r.Pin(pinned, mask); err == nil {
		t.Fatal("pinning the mask token succeeded")
	}
	if r.Canvas().Tokens[revealed] != mask {
		t.Fatal("remask did not hide the token")
	}
	rest := drain(t, r, 10*o.Steps+10)
	final := r.Canvas()
	if final.Tokens[pinned] != 1000 || final.Tokens[revealed] == mask {
		t.Fatalf("after steering: pinned=%d remasked=%d", final.Tokens[pinned], final.Tokens[revealed])
	}
	for _, ev := range rest {
		for _, rv := range ev.Revealed {
			if rv.Pos == pinned {
				t.Fatal("the diffusion overwrote a pinned token")
			}
		}
	}
}

func TestNewRunRejectsBadInput(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneMamba)
	good := testCanvas(cfg, 4)
	cases := map[string]func() (Canvas, Options){
		"steps":    func() (Canvas, Options) { o := DefaultOptions(); o.Steps = 0; return good, o },
		"sampler":  func() (Canvas, Options) { o := DefaultOptions(); o.Sampler = "nope"; return good, o },
		"schedule": func() (Canvas, Options) { o := DefaultOptions(); o.Schedule = "nope"; return good, o },
		"top-p":    func() (Canvas, Options) { o := DefaultOptions(); o.TopP = 1.5; return good, o },
		"vocabulary": func() (Canvas, Options) {
			c := good.Clone()
			c.Tokens[0] = int32(cfg.VocabSize)
			return c, DefaultOptions()
		},
		"context": func() (Canvas, Options) {
			c := Canvas{Tokens: make([]int32, cfg.MaxSeqLen+1), Fixed: make([]bool, cfg.MaxSeqLen+1)}
			return c, DefaultOptions()
		},
		"fixed": func() (Canvas, Options) {
			c := good.Clone()
			c.Tokens[0] = int32(cfg.MaskTokenID)
			return c, DefaultOptions()
		},
	}
	for name, mk := range cases {
		c, o := mk()
		if _, err := NewRun(b, cfg, c, o); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: NewRun error = %v, want one line", name, err)
		}
	}
}

type wordEncoder map[string]int32

func (w wordEncoder) Encode(s string) []int32 {
	var ids []int32
	for _, f := range strings.Fields(s) {
		ids = append(ids, w[f])
	}
	return ids
}

func TestParsePromptInfill(t *testing.T) {
	enc := wordEncoder{"The": 1, "sat": 2, "on": 3, "the": 4, "mat.": 5}
	c, err := ParsePrompt(enc, "The [MASK:3] sat on the mat.[MASK]", 2, 99, 100)
	if err != nil {
		t.Fatal(err)
	}
	wantTok := []int32{1, 99, 99, 99, 2, 3, 4, 5, 99, 99, 99}
	wantFix := []bool{true, false, false, false, true, true, true, true, false, false, false}
	for i := range wantTok {
		if c.Tokens[i] != wantTok[i] || c.Fixed[i] != wantFix[i] {
			t.Fatalf("canvas %v %v, want %v %v", c.Tokens, c.Fixed, wantTok, wantFix)
		}
	}
	for _, bad := range []struct {
		prompt string
		length int
	}{{"[MASK:0]", 0}, {"[MASK:99999999]", 0}, {"hi", 200}, {"", 0}, {"The", 0}, {"x", -1}} {
		if _, err := ParsePrompt(enc, bad.prompt, bad.length, 99, 100); err == nil {
			t.Errorf("ParsePrompt(%q, %d) accepted", bad.prompt, bad.length)
		}
	}
}

func TestSchedules(t *testing.T) {
	noise := models.NoiseConfig{Schedule: "loglinear", Eps: 1e-3}
	for _, name := range ScheduleNames {
		s, err := NewSchedule(name, noise)
		if err != nil {
			t.Fatal(err)
		}
		prev := math.Inf(1)
		for _, tt := range TimeGrid(50) {
			// TimeGrid runs from 1 down to eps, so alpha rises.
			a := s.Alpha(tt)
			if a > 1 || a < 0 || (prev != math.Inf(1) && a < prev-1e-12) {
				t.Fatalf("%s: alpha(%g) = %g not in [0,1] or not monotone", name, tt, a)
			}
			if prev == math.Inf(1) || a >= prev {
				prev = a
			}
			if f := s.RevealFraction(tt, math.Max(0, tt-0.02)); f < 0 || f > 1 {
				t.Fatalf("%s: reveal fraction %g", name, f)
			}
		}
	}
	// Hand values: loglinear alpha(0.5) = 1 - 0.999*0.5; cosine alpha(1) = eps;
	// linear alpha(0) = exp(-1e-4); geometric sigma(1) = sigma_max.
	ll, _ := NewSchedule("loglinear", noise)
	cs, _ := NewSchedule("cosine", noise)
	ln, _ := NewSchedule("linear", noise)
	ge, _ := NewSchedule("geometric", noise)
	checks := []struct{ got, want float64 }{
		{ll.Alpha(0.5), 0.5005}, {cs.Alpha(1), 1e-3}, {ln.Alpha(0), math.Exp(-1e-4)},
		{ge.Sigma(1), 20}, {ll.RevealFraction(1, 0.5), (0.5005 - 1e-3) / (1 - 1e-3)},
	}
	for i, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
			t.Errorf("check %d: got %.12g want %.12g", i, c.got, c.want)
		}
	}
}

func TestTraceRoundTripReplaysEveryStep(t *testing.T) {
	b, cfg := tinyModel(t, models.BackboneHybrid)
	o := DefaultOptions()
	o.Steps = 6
	start := testCanvas(cfg, 12)
	r, evs := runAll(t, b, cfg, start, o)
	var buf bytes.Buffer
	tw, err := NewTraceWriter(&buf, TraceHeader{Options: o, Canvas: start, Mask: int32(cfg.MaskTokenID),
		Panes: []PaneInfo{{Model: "tiny", Config: cfg}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := tw.Step(0, ev); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := ReadTrace(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Panes[0]
	if len(h.Events) != len(evs) {
		t.Fatalf("read %d events, wrote %d", len(h.Events), len(evs))
	}
	final := h.CanvasAt(len(evs))
	for i, tok := range r.Canvas().Tokens {
		if final.Tokens[i] != tok {
			t.Fatalf("replayed canvas differs at %d", i)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	corrupt := map[string]string{
		"empty":        "",
		"not header":   lines[1],
		"bad pane":     lines[0] + "\n" + strings.Replace(lines[1], `"pane":0`, `"pane":5`, 1),
		"out of order": lines[0] + "\n" + lines[2],
		"bad json":     lines[0] + "\n{",
		"bad pos":      lines[0] + "\n" + `{"type":"step","pane":0,"event":{"index":0,"revealed":[{"pos":100000,"token":1}]}}`,
	}
	for name, text := range corrupt {
		if _, err := ReadTrace(strings.NewReader(text)); err == nil {
			t.Errorf("%s trace accepted", name)
		}
	}
}

func TestReadTraceFileNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.jsonl")
	corrupt := filepath.Join(dir, "corrupt.jsonl")
	if err := os.WriteFile(corrupt, []byte("{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{missing: "cannot open trace " + missing + ": no such file", corrupt: corrupt + ": "} {
		_, err := ReadTraceFile(path)
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ReadTraceFile(%s): %v, want one line starting %q", path, err, want)
		}
	}
}
