package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// headLogits: with token 4 the mask, z = [0, ln2, ln4, 0] gives
// p = [1, 2, 4, 1]/8 = [0.125, 0.25, 0.5, 0.125].
var headLogits = []float32{0, float32(math.Ln2), float32(2 * math.Ln2), 0, 5}

func sampleHead(t *testing.T, p HeadParams, u float32) HeadResult {
	t.Helper()
	p.MaskID = 4
	r, err := SampleHead(headLogits, p, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkHead(t *testing.T, what string, got HeadResult, token int32, prob, margin, entropy float64) {
	t.Helper()
	if got.Token != token {
		t.Fatalf("%s: token %d, want %d", what, got.Token, token)
	}
	assertClose(t, what+" prob/margin/entropy", []float32{got.Prob, got.Margin, got.Entropy},
		[]float32{float32(prob), float32(margin), float32(entropy)}, 1e-6)
}

func TestSampleHeadGreedy(t *testing.T) {
	// The mask token has the largest logit but probability 0 (SUBS).
	// Entropy of [1/8, 1/4, 1/2, 1/8] = 2·(1/8)ln8 + (1/4)ln4 + (1/2)ln2 = 1.2130076.
	r := sampleHead(t, HeadParams{Temperature: 0, TopN: 3}, 0.99)
	checkHead(t, "greedy", r, 2, 0.5, 0.25, 1.2130076)
	// Top 3: tokens 0 and 3 tie at 1/8; the lower index wins.
	want := []Candidate{{2, 0.5}, {1, 0.25}, {0, 0.125}}
	if len(r.Top) != 3 {
		t.Fatalf("top has %d entries, want 3", len(r.Top))
	}
	for i := range want {
		if r.Top[i].Token != want[i].Token || math.Abs(float64(r.Top[i].Prob-want[i].Prob)) > 1e-6 {
			t.Fatalf("top[%d] = %+v, want %+v", i, r.Top[i], want[i])
		}
	}
}

func TestSampleHeadInverseCDF(t *testing.T) {
	// Temperature 1, nothing filtered; cumulative p in vocabulary order:
	// 0.125, 0.375, 0.875, 1.0.
	for _, c := range []struct {
		u     float32
		token int32
		prob  float64
	}{{0.1, 0, 0.125}, {0.2, 1, 0.25}, {0.5, 2, 0.5}, {0.9, 3, 0.125}, {0.9999999, 3, 0.125}} {
		r := sampleHead(t, HeadParams{Temperature: 1}, c.u)
		checkHead(t, "inverse CDF", r, c.token, c.prob, 0.25, 1.2130076)
	}
	// Temperature 2: p ∝ √[1,2,4,1] = [0.184699, 0.261204, 0.369398, 0.184699];
	// u = 0.3 passes token 0 (0.1847) and lands in token 1 (0.4459).
	r := sampleHead(t, HeadParams{Temperature: 2}, 0.3)
	h := 0.0
	for _, q := range []float64{0.18469903, 0.26120387, 0.36939806, 0.18469903} {
		h -= q * math.Log(q)
	}
	checkHead(t, "temperature 2", r, 1, 0.26120387, 0.36939806-0.26120387, h)
}

func TestSampleHeadTopKTopP(t *testing.T) {
	// Top-k 2 keeps {1, 2}: p' = [1/3, 2/3], margin 1/3,
	// entropy (1/3)ln3 + (2/3)ln(3/2) = 0.6365142. u = 0.3 < 1/3 → token 1;
	// u = 0.5 → token 2.
	checkHead(t, "top-k 2, u 0.3", sampleHead(t, HeadParams{Temperature: 1, TopK: 2}, 0.3), 1, 1.0/3, 1.0/3, 0.6365142)
	checkHead(t, "top-k 2, u 0.5", sampleHead(t, HeadParams{Temperature: 1, TopK: 2}, 0.5), 2, 2.0/3, 1.0/3, 0.6365142)
	// Top-k 3: the 3rd largest p is 1/8, shared by tokens 0 and 3: ties kept,
	// nothing is filtered (u = 0.05 picks token 0).
	checkHead(t, "top-k 3 ties", sampleHead(t, HeadParams{Temperature: 1, TopK: 3}, 0.05), 0, 0.125, 0.25, 1.2130076)
	// Top-p 0.7: mass{p ≥ 0.5} = 0.5 < 0.7, mass{p ≥ 0.25} = 0.75 → keeps {1, 2}.
	checkHead(t, "top-p 0.7", sampleHead(t, HeadParams{Temperature: 1, TopP: 0.7}, 0.5), 2, 2.0/3, 1.0/3, 0.6365142)
	// Top-p 0.4: {2} alone has mass 0.5 → one token, margin = p' = 1, entropy 0.
	checkHead(t, "top-p 0.4", sampleHead(t, HeadParams{Temperature: 1, TopP: 0.4}, 0.99), 2, 1, 1, 0)
	// Greedy with top-p: token is the argmax, scores under the filtered p'.
	checkHead(t, "greedy top-p 0.7", sampleHead(t, HeadParams{TopP: 0.7}, 0), 2, 2.0/3, 1.0/3, 0.6365142)
}

func TestSampleHeadRejectsBrokenLogits(t *testing.T) {
	for _, logits := range [][]float32{
		{0, float32(math.NaN()), 1},
		{0, float32(math.Inf(1)), 1},
		{float32(math.Inf(-1)), float32(math.Inf(-1)), 3}, // only the mask (2) is finite
	} {
		if _, err := SampleHead(logits, HeadParams{MaskID: 2, Temperature: 1}, 0.5, nil); err == nil {
			t.Errorf("logits %v: no error", logits)
		}
	}
}

// bruteHead is SampleHead's definition written with full sorts and a
// logarithm per token.
func bruteHead(logits []float32, p HeadParams, u float32) HeadResult {
	V := len(logits)
	temp := float64(p.Temperature)
	if temp <= 0 {
		temp = 1
	}
	mx, arg := math.Inf(-1), -1
	for i, z := range logits {
		if i != p.MaskID && float64(z) > mx {
			mx, arg = float64(z), i
		}
	}
	// probs holds the unnormalised weights w of the definition.
	probs := make([]float32, V)
	for i, z := range logits {
		if i != p.MaskID {
			probs[i] = float32(math.Exp((float64(z) - mx) / temp))
		}
	}
	keep := make([]bool, V)
	for i, q := range probs {
		keep[i] = q > 0
	}
	sortedKept := func() []float32 {
		var s []float32
		for i, q := range probs {
			if keep[i] {
				s = append(s, q)
			}
		}
		slices.SortFunc(s, cmpDesc)
		return s
	}
	if s := sortedKept(); p.TopK > 0 && p.TopK < len(s) {
		for i := range keep {
			keep[i] = keep[i] && probs[i] >= s[p.TopK-1]
		}
	}
	if p.TopP > 0 && p.TopP < 1 {
		s := sortedKept()
		var mass, acc float64
		for _, q := range s {
			mass += float64(q)
		}
		thr := s[len(s)-1]
		for _, q := range s {
			acc += float64(q)
			if acc >= float64(p.TopP)*mass {
				thr = q
				break
			}
		}
		for i := range keep {
			keep[i] = keep[i] && probs[i] >= thr
		}
	}
	var z float64
	var order []int
	for i, k := range keep {
		if k {
			z += float64(probs[i])
			order = append(order, i)
		}
	}
	token := arg
	if p.Temperature > 0 {
		token = order[len(order)-1]
		var cum float64
		for _, i := range order {
			cum += float64(probs[i])
			if cum > float64(u)*z {
				token = i
				break
			}
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpDesc(probs[a], probs[b]) })
	var h float64
	for _, i := range order {
		q := float64(probs[i]) / z
		h -= q * math.Log(q)
	}
	res := HeadResult{Token: int32(token), Prob: float32(float64(probs[token]) / z), Entropy: float32(h)}
	res.Margin = float32(float64(probs[order[0]]) / z)
	if len(order) > 1 {
		res.Margin -= float32(float64(probs[order[1]]) / z)
	}
	for _, i := range order[:min(p.TopN, len(order))] {
		res.Top = append(res.Top, Candidate{int32(i), float32(float64(probs[i]) / z)})
	}
	return res
}

func TestSampleHeadMatchesSortedDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	V := 5000
	work := make([]float32, 2*V)
	for trial := range 60 {
		logits := randSlice(r, V, 6)
		// Quantise some logits so ties occur at the thresholds.
		if trial%2 == 0 {
			for i := range logits {
				logits[i] = float32(math.Round(float64(logits[i])))
			}
		}
		p := HeadParams{
			MaskID:      r.IntN(V),
			Temperature: []float32{0, 0.5, 1, 1.7}[trial%4],
			TopK:        []int{0, 1, 7, 300, V - 1, V + 3}[trial%6],
			TopP:        []float32{0, 0.3, 0.9, 0.999, 1}[trial%5],
			TopN:        trial % 9,
		}
		u := r.Float32()
		got, err := SampleHead(logits, p, u, work)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteHead(logits, p, u)
		if got.Token != want.Token || len(got.Top) != len(want.Top) {
			t.Fatalf("trial %d %+v: token %d top %d, want token %d top %d", trial, p, got.Token, len(got.Top), want.Token, len(want.Top))
		}
		assertClose(t, "scores", []float32{got.Prob, got.Margin, got.Entropy}, []float32{want.Prob, want.Margin, want.Entropy}, 1e-5)
		for i := range want.Top {
			if got.Top[i].Token != want.Top[i].Token {
				t.Fatalf("trial %d: top[%d] token %d, want %d", trial, i, got.Top[i].Token, want.Top[i].Token)
			}
		}
	}
}

func TestLargestThresholdMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for trial := range 40 {
		n := 1 + r.IntN(3000)
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(r.IntN(50)) / 50 // many ties
		}
		sorted := slices.Clone(vals)
		slices.SortFunc(sorted, cmpDesc)
		k := 1 + r.IntN(n)
		if got := largestThreshold(slices.Clone(vals), float64(k), false); got != sorted[k-1] {
			t.Fatalf("trial %d: k=%d threshold %v, want %v", trial, k, got, sorted[k-1])
		}
		var total float64
		for _, v := range vals {
			total += float64(v)
		}
		target := r.Float64() * total
		var acc float64
		want := sorted[n-1]
		for _, v := range sorted {
			acc += float64(v)
			if acc >= target {
				want = v
				break
			}
		}
		if got := largestThreshold(slices.Clone(vals), target, true); got != want {
			t.Fatalf("trial %d: mass threshold %v, want %v", trial, got, want)
		}
	}
}
