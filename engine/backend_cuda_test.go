//go:build cuda

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"diffuapriel/models"
)

// The GPU backend against the CPU engine, whole forward passes: logits and
// sampling statistics for all three backbones on random checkpoints (bf16,
// so both engines hold identical weights) and on the demo checkpoints.

// midConfig is a small model with the presets' kernel shapes: Mamba head
// dim 64, d_state 128 (4 threads per state row) and attention head dim 64.
func midConfig(t *testing.T, backbone string) *models.Config {
	c, err := models.Preset("tiny", backbone)
	if err != nil {
		t.Fatal(err)
	}
	c.DModel, c.NLayers, c.CondDim = 256, 3, 64
	c.Attention.NHeads = 4
	c.Mamba = models.MambaConfig{DState: 128, DConv: 4, Expand: 2, HeadDim: 64, NGroups: 1, ChunkSize: 256}
	c.TieEmbeddings = false
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGPUMatchesCPU(t *testing.T) {
	for _, size := range []string{"tiny", "mid"} {
		for _, backbone := range []string{models.BackboneMamba, models.BackboneHybrid, models.BackboneTransformer} {
			t.Run(size+"/"+backbone, func(t *testing.T) {
				var cfg *models.Config
				if size == "mid" {
					cfg = midConfig(t, backbone)
				} else {
					var err error
					if cfg, err = models.Preset("tiny", backbone); err != nil {
						t.Fatal(err)
					}
				}
				w := bf16Weights(t, models.RandomInit(cfg, 7))
				compareEngines(t, w, 333, 0.8)
			})
		}
	}
}

// TestGPUDemoCheckpoints compares the engines on the shipped demo
// checkpoints (models/demo), when there are any.
func TestGPUDemoCheckpoints(t *testing.T) {
	dirs, _ := filepath.Glob("../models/demo/*")
	ran := false
	for _, dir := range dirs {
		ck, err := models.Load(dir)
		if err != nil {
			continue // not a checkpoint directory
		}
		ran = true
		t.Run(filepath.Base(dir), func(t *testing.T) {
			defer ck.Close()
			compareEngines(t, bf16Weights(t, ck.Weights), 200, 0.5)
		})
	}
	if !ran {
		t.Skip("no demo checkpoints under models/demo")
	}
}

func compareEngines(t *testing.T, w *models.Weights, L int, sigma float64) {
	cfg := w.Config
	cpu := NewCPU(0)
	if err := cpu.Load(w, nil); err != nil {
		t.Fatal(err)
	}
	gpu := testGPU(t)
	var last int64
	if err := gpu.Load(w, func(done, total int64) {
		if done < last || done > total {
			t.Errorf("progress went from %d to %d of %d", last, done, total)
		}
		last = done
	}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(L), 99))
	tokens := make([]int32, L)
	var masked []int32
	for i := range tokens {
		if rng.IntN(2) == 0 {
			tokens[i] = int32(cfg.MaskTokenID)
			masked = append(masked, int32(i))
		} else {
			tokens[i] = int32(rng.IntN(cfg.VocabSize - 1))
		}
	}

	want, err := cpu.Logits(tokens, sigma)
	if err != nil {
		t.Fatal(err)
	}
	// Three calls: eager warm-up, graph capture, graph replay.
	var first []float32
	for call := range 3 {
		got, err := gpu.Logits(tokens, sigma)
		if err != nil {
			t.Fatal(err)
		}
		if call == 0 {
			first = got
			checkClose(t, "logits vs cpu", got, want, 1e-2)
		} else {
			checkClose(t, fmt.Sprintf("logits call %d vs call 0", call), got, first, 1e-6)
		}
	}
	if gpu.graphErr != nil {
		t.Errorf("CUDA graph capture failed: %v", gpu.graphErr)
	}

	for _, q := range []HeadQuery{
		{Temperature: 0, TopN: 3},
		{Temperature: 1, TopK: 40, TopP: 0.9, TopN: 2},
	} {
		q.Positions = append([]int32{0, 1, 2}, masked...) // some unmasked: carried over
		q.Uniform = make([]float32, len(q.Positions))
		for i := range q.Uniform {
			q.Uniform[i] = rng.Float32()
		}
		ws, err := cpu.Sample(tokens, sigma, &q)
		if err != nil {
			t.Fatal(err)
		}
		gs, err := gpu.Sample(tokens, sigma, &q)
		if err != nil {
			t.Fatal(err)
		}
		compareStats(t, fmt.Sprintf("T=%g k=%d p=%g", q.Temperature, q.TopK, q.TopP), gs, ws)
	}
}

// compareStats checks sampled positions: tokens agree almost everywhere (a
// near-tie can flip under bf16 rounding), and where they agree the scores
// match within 1e-2 relative overall.
func compareStats(t *testing.T, what string, got, want []PositionStats) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d stats, want %d", what, len(got), len(want))
	}
	same, shown := 0, 0
	var gp, wp, ge, we, gm, wm []float32
	for i := range want {
		g, w := got[i], want[i]
		if shown < 3 && (g.Token != w.Token || math.Abs(float64(g.Prob-w.Prob)) > 1e-2*float64(w.Prob)+1e-6 ||
			!(math.Abs(float64(g.Entropy-w.Entropy)) <= 1e-2*float64(w.Entropy)+1e-6)) {
			shown++
			t.Logf("%s: position %d: gpu token %d p %.6g margin %.6g entropy %.6g top %v; cpu token %d p %.6g margin %.6g entropy %.6g top %v",
				what, w.Pos, g.Token, g.Prob, g.Margin, g.Entropy, g.Top, w.Token, w.Prob, w.Margin, w.Entropy, w.Top)
		}
		if got[i].Pos != want[i].Pos {
			t.Fatalf("%s: entry %d is position %d, want %d", what, i, got[i].Pos, want[i].Pos)
		}
		if len(got[i].Top) != len(want[i].Top) {
			t.Errorf("%s: position %d has %d candidates, want %d", what, want[i].Pos, len(got[i].Top), len(want[i].Top))
		}
		if got[i].Token != want[i].Token {
			continue
		}
		same++
		gp, wp = append(gp, got[i].Prob), append(wp, want[i].Prob)
		ge, we = append(ge, got[i].Entropy), append(we, want[i].Entropy)
		gm, wm = append(gm, got[i].Margin), append(wm, want[i].Margin)
	}
	frac := float64(same) / float64(len(want))
	t.Logf("%s: %d of %d tokens agree", what, same, len(want))
	if frac < 0.9 {
		t.Errorf("%s: only %.0f%% of sampled tokens agree with the CPU", what, 100*frac)
	}
	checkClose(t, what+" prob", gp, wp, 1e-2)
	checkClose(t, what+" entropy", ge, we, 1e-2)
	// Margins are differences of nearby probabilities: compare absolutely.
	var worst float64
	for i := range gm {
		worst = math.Max(worst, math.Abs(float64(gm[i]-wm[i])))
	}
	if worst > 1e-2 {
		t.Errorf("%s: margin differs by %.3g", what, worst)
	}
}

func TestGPUBadInput(t *testing.T) {
	gpu := testGPU(t)
	cfg, err := models.Preset("tiny", models.BackboneMamba)
	if err != nil {
		t.Fatal(err)
	}
	if err := gpu.Load(models.RandomInit(cfg, 1), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		tokens []int32
		q      *HeadQuery
		want   string
	}{
		{"token outside vocabulary", []int32{1, 2, int32(cfg.VocabSize)}, &HeadQuery{Positions: []int32{0}}, "outside the vocabulary"},
		{"negative token", []int32{-1}, &HeadQuery{Positions: []int32{0}}, "outside the vocabulary"},
		{"empty", nil, &HeadQuery{}, "empty token sequence"},
		{"position outside", []int32{1, 2}, &HeadQuery{Positions: []int32{5}}, "outside the sequence"},
		{"top-n too large", []int32{1, 2}, &HeadQuery{Positions: []int32{0}, TopN: MaxTopN + 1}, "top-n"},
		{"no uniforms", []int32{1, 2}, &HeadQuery{Positions: []int32{0}, Temperature: 1}, "uniforms"},
	} {
		_, err := gpu.Sample(c.tokens, 0.5, c.q)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "gpu backend") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line from the gpu backend containing %q", c.name, err, c.want)
		}
	}
	// Out of device memory is an error naming the buffer, not a crash.
	err = gpu.th.do(func() error {
		var b devBuf
		_, err := gpu.ensure(&b, 1<<52, "a test buffer")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "out of device memory: a test buffer needs") {
		t.Errorf("huge allocation: error %v", err)
	}
	// The backend still works afterwards.
	if _, err := gpu.Logits([]int32{1, 2, 3}, 0.5); err != nil {
		t.Errorf("after the failed allocation: %v", err)
	}
	if used, total := gpu.Memory(); used == 0 || total < used {
		t.Errorf("Memory() = %d used of %d", used, total)
	}
}

// TestGPUClosed: a closed backend answers errors (and zero memory), never a
// panic, and closing twice is harmless.
func TestGPUClosed(t *testing.T) {
	b, err := newGPU()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Logits([]int32{1, 2}, 0.5); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Logits after Close: %v", err)
	}
	if err := b.Load(nil, nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Load after Close: %v", err)
	}
	if used, total := b.Memory(); used != 0 || total != 0 {
		t.Errorf("Memory after Close = %d, %d", used, total)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
