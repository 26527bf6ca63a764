package engine

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"diffuapriel/models"
)

// Golden fixtures (testdata/fixtures/<name>/, written by train/make_fixtures.py)
// hold a tiny random checkpoint per backbone, dtype and file layout, and the
// logits PyTorch computed in float64 through the sequential SSD scan. This
// file runs them through every backend this build and machine can open
// (CPU always, GPU with -tags cuda on a GPU machine), through both Backend
// entry points: Logits, and Sample's greedy head with its SUBS carry-over.

// fixtureTolerance is what a backend must reach against the fixtures:
// logits bounds max|got-want| / max|want|, head the absolute error of the
// probabilities, margins and entropies the head reports against the float64
// softmax of the fixture logits. The CPU computes in float32; the GPU stores
// weights and activations in bf16, for which issue 4 sets 1e-2 on logits;
// on these fixtures' flat distributions (top probabilities near 0.05) that
// moves probabilities, margins and entropies by up to about 3% (measured on
// the H200: logits 8.3e-3, margin 3.2e-2, entropy 3.1e-2 at worst).
type fixtureTolerance struct{ logits, head float64 }

var fixtureTolerances = map[string]fixtureTolerance{
	"cpu": {logits: 1e-4, head: 1e-4},
	"gpu": {logits: 1e-2, head: 5e-2},
}

type goldenFixture struct {
	Covers     string    `json:"covers"`
	Checkpoint string    `json:"checkpoint"`
	Tokens     []int32   `json:"tokens"`
	Sigmas     []float64 `json:"sigmas"`
	VocabSize  int       `json:"vocab_size"`
	Logits     string    `json:"logits"`
}

// readGolden loads a fixture's description and its reference logits,
// [len(Sigmas)][len(Tokens)][VocabSize] little-endian float32.
func readGolden(t *testing.T, dir string) (*goldenFixture, []float32) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f goldenFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	bin, err := os.ReadFile(filepath.Join(dir, f.Logits))
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.Sigmas) * len(f.Tokens) * f.VocabSize
	if n == 0 || len(bin) != 4*n {
		t.Fatalf("%s: %s holds %d bytes, want %d", dir, f.Logits, len(bin), 4*n)
	}
	logits := make([]float32, n)
	for i := range logits {
		logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(bin[4*i:]))
	}
	return &f, logits
}

// relativeError is max|got-want| / max|want|; a NaN or Inf in got makes it +Inf.
func relativeError(got, want []float32) float64 {
	var maxDiff, maxRef float64
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		maxDiff = math.Max(maxDiff, math.Abs(g-w))
		maxRef = math.Max(maxRef, math.Abs(w))
	}
	return maxDiff / maxRef
}

// subsProbs is the float64 softmax of one row of logits with the mask token
// removed (SUBS), and the tokens sorted by decreasing probability.
func subsProbs(row []float32, maskID int) ([]float64, []int) {
	top := math.Inf(-1)
	for v, x := range row {
		if v != maskID {
			top = math.Max(top, float64(x))
		}
	}
	p := make([]float64, len(row))
	var sum float64
	for v, x := range row {
		if v != maskID {
			p[v] = math.Exp(float64(x) - top)
			sum += p[v]
		}
	}
	order := make([]int, 0, len(row))
	for v := range p {
		p[v] /= sum
		if v != maskID {
			order = append(order, v)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] > p[order[b]] })
	return p, order
}

// fixtureBackends opens every backend available here; the GPU is skipped,
// with its reason logged, when this build or machine has none.
func fixtureBackends(t *testing.T) map[string]Backend {
	out := map[string]Backend{}
	for _, kind := range []string{"cpu", "gpu"} {
		b, _, err := Open(kind)
		if err != nil {
			t.Logf("backend %s not tested: %v", kind, err)
			continue
		}
		out[kind] = b
	}
	return out
}

func TestBackendsMatchGoldenFixtures(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*", "fixture.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden fixtures under testdata/fixtures (%v)", err)
	}
	backends := fixtureBackends(t)
	defer func() {
		for _, b := range backends {
			b.Close()
		}
	}()
	for _, meta := range dirs {
		dir := filepath.Dir(meta)
		f, want := readGolden(t, dir)
		ck, err := models.Load(filepath.Join(dir, f.Checkpoint))
		if err != nil {
			t.Fatal(err)
		}
		if ck.Config.VocabSize != f.VocabSize {
			t.Fatalf("%s: checkpoint vocab_size %d, fixture %d", dir, ck.Config.VocabSize, f.VocabSize)
		}
		for kind, b := range backends {
			t.Run(kind+"/"+filepath.Base(dir), func(t *testing.T) {
				if err := b.Load(ck.Weights, nil); err != nil {
					t.Fatal(err)
				}
				tol := fixtureTolerances[kind]
				checkFixtureLogits(t, b, f, want, tol.logits)
				checkFixtureHead(t, b, f, want, ck.Config.MaskTokenID, tol.head)
			})
		}
		ck.Close()
	}
}

func checkFixtureLogits(t *testing.T, b Backend, f *goldenFixture, want []float32, tolerance float64) {
	per := len(f.Tokens) * f.VocabSize
	for i, sigma := range f.Sigmas {
		got, err := b.Logits(f.Tokens, sigma)
		if err != nil {
			t.Fatalf("sigma %g: %v", sigma, err)
		}
		if len(got) != per {
			t.Fatalf("sigma %g: %d logits, want %d", sigma, len(got), per)
		}
		if e := relativeError(got, want[i*per:(i+1)*per]); !(e < tolerance) {
			t.Errorf("%s, sigma %g: logits relative error %.3g exceeds %g", f.Covers, sigma, e, tolerance)
		}
	}
}

// checkFixtureHead queries every position greedily: masked positions must
// report the reference argmax (the mask token excluded) with its probability,
// margin and entropy; unmasked ones carry their input over with probability 1.
func checkFixtureHead(t *testing.T, b Backend, f *goldenFixture, want []float32, maskID int, headTolerance float64) {
	L, V := len(f.Tokens), f.VocabSize
	q := &HeadQuery{Temperature: 0, TopN: 3}
	for p := range L {
		q.Positions = append(q.Positions, int32(p))
		q.Uniform = append(q.Uniform, 0.5)
	}
	for si, sigma := range f.Sigmas {
		stats, err := b.Sample(f.Tokens, sigma, q)
		if err != nil {
			t.Fatalf("sigma %g: Sample: %v", sigma, err)
		}
		if len(stats) != L {
			t.Fatalf("sigma %g: Sample returned %d positions, want %d", sigma, len(stats), L)
		}
		for p, st := range stats {
			if int(st.Pos) != p {
				t.Fatalf("sigma %g: stats[%d] is for position %d", sigma, p, st.Pos)
			}
			if tok := f.Tokens[p]; int(tok) != maskID {
				if st.Token != tok || st.Prob != 1 {
					t.Errorf("sigma %g, position %d: unmasked input %d reported as token %d p=%g; want carry-over", sigma, p, tok, st.Token, st.Prob)
				}
				continue
			}
			probs, order := subsProbs(want[(si*L+p)*V:(si*L+p+1)*V], maskID)
			if int(st.Token) == maskID {
				t.Errorf("sigma %g, position %d: head chose the mask token", sigma, p)
				continue
			}
			// A different argmax is only acceptable as a float32 near-tie.
			if int(st.Token) != order[0] && probs[order[0]]-probs[st.Token] > headTolerance {
				t.Errorf("sigma %g, position %d: greedy token %d (p %.6f), reference argmax %d (p %.6f)", sigma, p, st.Token, probs[st.Token], order[0], probs[order[0]])
			}
			var entropy float64
			for _, pv := range probs {
				if pv > 0 {
					entropy -= pv * math.Log(pv)
				}
			}
			checks := []struct {
				name      string
				got, want float64
			}{
				{"probability", float64(st.Prob), probs[order[0]]},
				{"margin", float64(st.Margin), probs[order[0]] - probs[order[1]]},
				{"entropy", float64(st.Entropy), entropy},
			}
			for _, c := range checks {
				if !(math.Abs(c.got-c.want) <= headTolerance*math.Max(1, math.Abs(c.want))) {
					t.Errorf("sigma %g, position %d: %s %.6g, reference %.6g", sigma, p, c.name, c.got, c.want)
				}
			}
			if len(st.Top) != 3 {
				t.Errorf("sigma %g, position %d: %d top candidates, want 3", sigma, p, len(st.Top))
				continue
			}
			for k, c := range st.Top {
				if math.Abs(float64(c.Prob)-probs[c.Token]) > headTolerance || math.Abs(probs[c.Token]-probs[order[k]]) > headTolerance {
					t.Errorf("sigma %g, position %d: top[%d] = token %d p %.6f; reference rank %d is token %d p %.6f", sigma, p, k, c.Token, c.Prob, k, order[k], probs[order[k]])
				}
			}
		}
	}
}
