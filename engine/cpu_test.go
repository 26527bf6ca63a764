package engine

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"diffuapriel/kernels"
	"diffuapriel/models"
)

// loadTinyCPU returns a CPU backend holding a random tiny model.
func loadTinyCPU(t *testing.T, backbone string) (*CPU, *models.Config) {
	t.Helper()
	cfg, err := models.Preset("tiny", backbone)
	if err != nil {
		t.Fatal(err)
	}
	cpu := NewCPU(0)
	if err := cpu.Load(models.RandomInit(cfg, 3), nil); err != nil {
		t.Fatal(err)
	}
	return cpu, cfg
}

func TestCPUSampleMatchesHeadOverLogits(t *testing.T) {
	cpu, cfg := loadTinyCPU(t, models.BackboneHybrid)
	tokens := testTokens(cfg, 120, 2)
	sigma := 1.5
	logits, err := cpu.Logits(tokens, sigma)
	if err != nil {
		t.Fatal(err)
	}
	V := cfg.VocabSize
	var masked []int32
	for i, tok := range tokens {
		if int(tok) == cfg.MaskTokenID {
			masked = append(masked, int32(i))
		}
	}
	if len(masked) <= headRows {
		t.Fatalf("only %d masked positions; the test needs more than one head block (%d)", len(masked), headRows)
	}
	for _, q := range []HeadQuery{
		{Temperature: 0, TopN: 5},
		{Temperature: 0.8, TopK: 50, TopP: 0.9, TopN: 3},
		{Temperature: 1.3, TopN: 8},
		{Temperature: 1, TopP: 0.5},
	} {
		q.Positions = masked
		q.Uniform = make([]float32, len(masked))
		for i := range q.Uniform {
			q.Uniform[i] = float32(i%17) / 17
		}
		stats, err := cpu.Sample(tokens, sigma, &q)
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != len(masked) {
			t.Fatalf("%d stats for %d positions", len(stats), len(masked))
		}
		params := kernels.HeadParams{MaskID: cfg.MaskTokenID, Temperature: q.Temperature, TopK: q.TopK, TopP: q.TopP, TopN: q.TopN}
		for i, p := range masked {
			want, err := kernels.SampleHead(logits[int(p)*V:int(p+1)*V], params, q.Uniform[i], nil)
			if err != nil {
				t.Fatal(err)
			}
			got := stats[i]
			if got.Pos != p || got.Token != want.Token || len(got.Top) != len(want.Top) {
				t.Fatalf("query %+v position %d: got pos %d token %d (%d top), want token %d (%d top)",
					q, p, got.Pos, got.Token, len(got.Top), want.Token, len(want.Top))
			}
			for _, pair := range [][2]float32{{got.Prob, want.Prob}, {got.Margin, want.Margin}, {got.Entropy, want.Entropy}} {
				if math.Abs(float64(pair[0]-pair[1])) > 1e-6 {
					t.Fatalf("position %d: stats %+v, want %+v", p, got, want)
				}
			}
			for k := range want.Top {
				if got.Top[k].Token != want.Top[k].Token {
					t.Fatalf("position %d: top[%d] = %d, want %d", p, k, got.Top[k].Token, want.Top[k].Token)
				}
			}
			if int(got.Token) == cfg.MaskTokenID {
				t.Fatalf("position %d sampled the mask token", p)
			}
		}
	}
}

func TestCPUSampleCarriesOverUnmaskedTokens(t *testing.T) {
	cpu, cfg := loadTinyCPU(t, models.BackboneMamba)
	tokens := testTokens(cfg, 10, 3)
	tokens[4] = 1234
	stats, err := cpu.Sample(tokens, 0.3, &HeadQuery{Positions: []int32{4, 0}, Uniform: []float32{0.5, 0.5}, Temperature: 1, TopN: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := stats[0]
	if s.Pos != 4 || s.Token != 1234 || s.Prob != 1 || s.Margin != 1 || s.Entropy != 0 || len(s.Top) != 1 || s.Top[0].Token != 1234 {
		t.Fatalf("unmasked position: %+v, want token 1234 with p 1", s)
	}
	if stats[1].Pos != 0 || stats[1].Prob <= 0 || stats[1].Prob > 1 {
		t.Fatalf("masked position: %+v", stats[1])
	}
	// Only unmasked positions queried: no head work, same carry-over.
	only, err := cpu.Sample(tokens, 0.3, &HeadQuery{Positions: []int32{4}, Uniform: []float32{0.5}, Temperature: 1})
	if err != nil || len(only) != 1 || only[0].Token != 1234 || only[0].Prob != 1 || only[0].Top != nil {
		t.Fatalf("unmasked-only query: %+v, %v", only, err)
	}
}

func TestCPURejectsBadInput(t *testing.T) {
	cpu, cfg := loadTinyCPU(t, models.BackboneTransformer)
	ok := testTokens(cfg, 8, 4)
	good := func() *HeadQuery {
		return &HeadQuery{Positions: []int32{0, 1}, Uniform: []float32{0.1, 0.2}, Temperature: 1, TopN: 2}
	}
	// Bad sequences or sigmas fail Logits and Sample alike.
	for _, c := range []struct {
		name   string
		tokens []int32
		sigma  float64
		want   string
	}{
		{"empty", nil, 0, "empty"},
		{"negative token", []int32{1, -1}, 0, "token id -1 at position 1"},
		{"token past vocab", []int32{int32(cfg.VocabSize)}, 0, "outside the vocabulary"},
		{"too long", make([]int32, cfg.MaxSeqLen+1), 0, "max_seq_len"},
		{"NaN sigma", ok, math.NaN(), "sigma"},
		{"negative sigma", ok, -1, "sigma"},
		{"infinite sigma", ok, math.Inf(1), "sigma"},
	} {
		_, errSample := cpu.Sample(c.tokens, c.sigma, good())
		_, errLogits := cpu.Logits(c.tokens, c.sigma)
		for _, err := range []error{errSample, errLogits} {
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
			}
		}
	}
	// Bad head queries fail Sample.
	cases := []struct {
		name   string
		tokens []int32
		sigma  float64
		q      *HeadQuery
		want   string
	}{
		{"nil query", ok, 0, nil, "no head query"},
		{"position past end", ok, 0, &HeadQuery{Positions: []int32{8}, Uniform: []float32{0}, Temperature: 1}, "query position 8"},
		{"negative position", ok, 0, &HeadQuery{Positions: []int32{-1}, Uniform: []float32{0}, Temperature: 1}, "query position -1"},
		{"missing uniforms", ok, 0, &HeadQuery{Positions: []int32{0, 1}, Uniform: []float32{0.5}, Temperature: 1}, "1 uniforms for 2 positions"},
		{"uniform out of range", ok, 0, &HeadQuery{Positions: []int32{0}, Uniform: []float32{1}, Temperature: 1}, "not in [0, 1)"},
		{"top-n too large", ok, 0, &HeadQuery{Positions: []int32{0}, Uniform: []float32{0}, TopN: MaxTopN + 1}, "top-n"},
		{"NaN temperature", ok, 0, &HeadQuery{Positions: []int32{0}, Uniform: []float32{0}, Temperature: float32(math.NaN())}, "temperature"},
		{"NaN top-p", ok, 0, &HeadQuery{Positions: []int32{0}, Uniform: []float32{0}, TopP: float32(math.NaN())}, "top-p"},
	}
	for _, c := range cases {
		_, err := cpu.Sample(c.tokens, c.sigma, c.q)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
	}
	// Greedy queries may omit the uniforms.
	if _, err := cpu.Sample(ok, 0, &HeadQuery{Positions: []int32{0}}); err != nil {
		t.Errorf("greedy query without uniforms: %v", err)
	}
	if _, err := NewCPU(1).Logits(ok, 0); err == nil || !strings.Contains(err.Error(), "no model loaded") {
		t.Errorf("unloaded backend: %v", err)
	}
	if err := NewCPU(1).Load(nil, nil); err == nil {
		t.Error("Load(nil): no error")
	}
}

func TestCPULoadProgressAndMemory(t *testing.T) {
	cfg, err := models.Preset("tiny", models.BackboneHybrid)
	if err != nil {
		t.Fatal(err)
	}
	w := models.RandomInit(cfg, 5)
	cpu := NewCPU(2)
	var calls int
	var last, total int64
	err = cpu.Load(w, func(done, tot int64) {
		if done < last || done > tot {
			t.Errorf("progress %d of %d after %d", done, tot, last)
		}
		calls++
		last, total = done, tot
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every stored tensor is reported once (the tied head is the embedding).
	if want := len(models.TensorSpecs(cfg)); calls != want {
		t.Errorf("%d progress calls, want one per tensor (%d)", calls, want)
	}
	if want := models.ParamCount(cfg) * 4; last != total || total != want {
		t.Errorf("progress ended at %d of %d, want %d of %d", last, total, want, want)
	}
	used, _ := cpu.Memory()
	if used < uint64(models.ParamCount(cfg)*4) {
		t.Errorf("Memory reports %d bytes, less than the weights (%d)", used, models.ParamCount(cfg)*4)
	}
	if !strings.Contains(cpu.Device(), "2 threads") || cpu.Name() != "cpu" {
		t.Errorf("Name %q Device %q", cpu.Name(), cpu.Device())
	}
	cpu.Close()
	if used, _ := cpu.Memory(); used != 0 {
		t.Errorf("Memory after Close: %d", used)
	}
}

func TestCPUReusesScratch(t *testing.T) {
	cpu, cfg := loadTinyCPU(t, models.BackboneHybrid)
	tokens := testTokens(cfg, 256, 6)
	q := &HeadQuery{Positions: []int32{0, 100, 200}, Uniform: []float32{0.1, 0.2, 0.3}, Temperature: 1, TopN: 4}
	if _, err := cpu.Sample(tokens, 1, q); err != nil {
		t.Fatal(err)
	}
	scratch := cpu.s.bytes() * 4
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := cpu.Sample(tokens, 1, q); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The scratch buffers are well over a megabyte here; a second step of
	// the same length must not allocate them again.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(scratch)/4 {
		t.Errorf("second step allocated %d bytes (scratch is %d)", alloc, scratch)
	}
}
