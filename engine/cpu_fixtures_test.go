package engine

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"diffuapriel/models"
)

// TestCPUMatchesPyTorchFixtures compares the CPU backend with the golden
// logits that train/make_fixtures.py computed in float64 with the PyTorch
// reference model (an implementation independent of this repository's Go),
// for every backbone, stored dtype and layout the fixtures cover.
func TestCPUMatchesPyTorchFixtures(t *testing.T) {
	dirs, err := filepath.Glob("testdata/fixtures/*/fixture.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures found (%v)", err)
	}
	for _, meta := range dirs {
		dir := filepath.Dir(meta)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var fx struct {
				Checkpoint string    `json:"checkpoint"`
				Tokens     []int32   `json:"tokens"`
				Sigmas     []float64 `json:"sigmas"`
				VocabSize  int       `json:"vocab_size"`
				Logits     string    `json:"logits"`
			}
			raw, err := os.ReadFile(meta)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatal(err)
			}
			ck, err := models.Load(filepath.Join(dir, fx.Checkpoint))
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			cpu := NewCPU(0)
			if err := cpu.Load(ck.Weights, nil); err != nil {
				t.Fatal(err)
			}
			blob, err := os.ReadFile(filepath.Join(dir, fx.Logits))
			if err != nil {
				t.Fatal(err)
			}
			per := len(fx.Tokens) * fx.VocabSize
			if len(blob) != 4*per*len(fx.Sigmas) {
				t.Fatalf("%s holds %d bytes, want %d", fx.Logits, len(blob), 4*per*len(fx.Sigmas))
			}
			for si, sigma := range fx.Sigmas {
				got, err := cpu.Logits(fx.Tokens, sigma)
				if err != nil {
					t.Fatal(err)
				}
				var num, den float64
				for i := range per {
					want := float64(math.Float32frombits(binary.LittleEndian.Uint32(blob[4*(si*per+i):])))
					num = math.Max(num, math.Abs(float64(got[i])-want))
					den = math.Max(den, math.Abs(want))
				}
				if e := num / den; e > 1e-4 {
					t.Errorf("sigma %g: relative error %.3g vs the PyTorch fixture", sigma, e)
				} else {
					t.Logf("sigma %g: relative error %.3g", sigma, e)
				}
			}
		})
	}
}
