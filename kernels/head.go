package kernels

import (
	"fmt"
	"math"
	"slices"
)

// HeadParams are the sampling settings of the output head.
type HeadParams struct {
	MaskID      int     // token forced to probability 0 (SUBS); < 0 for none
	Temperature float32 // <= 0: greedy (argmax), scores then use temperature 1
	TopK        int     // keep tokens with p >= the TopK-th largest p; <= 0 or >= V keeps all
	TopP        float32 // nucleus mass; <= 0 or >= 1 keeps all
	TopN        int     // candidates to report (the most likely kept tokens)
}

// Candidate is a token and its probability under the filtered distribution.
type Candidate struct {
	Token int32
	Prob  float32
}

// HeadResult is SampleHead's answer for one position.
type HeadResult struct {
	Token   int32
	Prob    float32 // p'(Token)
	Margin  float32 // p'(top-1) − p'(top-2), top-2 = 0 when one token is kept
	Entropy float32 // −Σ p' ln p' over kept tokens, in nats
	Top     []Candidate
}

// SampleHead turns one row of logits (length V) into a token and the scores
// the samplers rank by. Definition (the CUDA head implements the same):
//
//  1. z = logits with z[MaskID] = −∞ (SUBS). T = Temperature, or 1 when
//     Temperature <= 0. Weights w_i = float32(exp((z_i − max z)/T)), the
//     exponential in float64; w of the mask token is 0. p = w / Σw is
//     softmax(z/T); every step below works on w, as scaling by 1/Σw changes
//     neither order, ties nor ratios.
//  2. Filtering. kept starts as {i : w_i > 0}. Top-k (0 < TopK < V): keep
//     w_i >= the TopK-th largest kept w. Then top-p (0 < TopP < 1): with W
//     the weight kept so far, keep w_i >= thr where thr is the largest value
//     such that Σ_{kept, w >= thr} w >= TopP·W. Ties at a threshold are kept.
//  3. W' = Σ_kept w (float64) and p' = w / W' over kept tokens.
//  4. Token: greedy (Temperature <= 0) takes argmax z, the lowest index on
//     ties. Otherwise inverse CDF in vocabulary order: the smallest kept i
//     with Σ_{kept j <= i} w_j > u·W' (float64 sums), or the last kept token
//     when rounding leaves none.
//  5. Prob = p'(Token); Margin = p'top1 − p'top2; Entropy = −Σ_kept p' ln p',
//     computed as ln W' − Σ_kept p'_i (z_i − max z)/T (ln w_i is exactly
//     (z_i − max z)/T before rounding, so no logarithm per token); Top = the
//     TopN kept tokens of highest p', descending, ties by lower index.
//
// Cost is O(V) expected: thresholds come from selection, never a full sort.
// work is scratch of at least 2·V floats (nil allocates). An error means no
// distribution exists: a NaN logit, a +∞ logit or no finite logit.
func SampleHead(logits []float32, params HeadParams, u float32, work []float32) (HeadResult, error) {
	V := len(logits)
	if len(work) < 2*V {
		work = make([]float32, 2*V)
	}
	weights, sel := work[:V], work[V:2*V]

	mx, argmax := float32(math.Inf(-1)), -1
	for i, z := range logits {
		if i == params.MaskID {
			continue
		}
		if math.IsNaN(float64(z)) || math.IsInf(float64(z), 1) {
			return HeadResult{}, fmt.Errorf("logit of token %d is %v", i, z)
		}
		if z > mx {
			mx, argmax = z, i
		}
	}
	if argmax < 0 {
		return HeadResult{}, fmt.Errorf("no token has a finite logit")
	}
	invTemp := 1.0
	if params.Temperature > 0 {
		invTemp = 1 / float64(params.Temperature)
	}
	for i, z := range logits {
		weights[i] = float32(math.Exp((float64(z) - float64(mx)) * invTemp))
	}
	if params.MaskID >= 0 && params.MaskID < V {
		weights[params.MaskID] = 0
	}

	// thr is the smallest weight a kept token may have; w > 0 always applies.
	thr := float32(math.SmallestNonzeroFloat32)
	if params.TopK > 0 && params.TopK < V {
		n := keptValues(sel, weights, thr)
		if params.TopK < n {
			thr = max(thr, largestThreshold(sel[:n], float64(params.TopK), false))
		}
	}
	if params.TopP > 0 && params.TopP < 1 {
		n := keptValues(sel, weights, thr)
		var mass float64
		for _, w := range sel[:n] {
			mass += float64(w)
		}
		thr = max(thr, largestThreshold(sel[:n], float64(params.TopP)*mass, true))
	}

	// One pass over the kept tokens: their total weight, the last of them,
	// the TopN best and Σ w_i·(z_i − max z)/T for the entropy.
	top := make([]Candidate, 0, max(params.TopN, 2))
	var kept, weightedLogit float64
	lastKept := -1
	for i, w := range weights {
		if w < thr {
			continue
		}
		kept += float64(w)
		weightedLogit += float64(w) * (float64(logits[i]) - float64(mx)) * invTemp
		lastKept = i
		if len(top) < cap(top) || w > top[len(top)-1].Prob {
			top = insertCandidate(top, Candidate{Token: int32(i), Prob: w})
		}
	}
	token := argmax
	if params.Temperature > 0 {
		target, cum := float64(u)*kept, 0.0
		token = lastKept
		for i, w := range weights {
			if w < thr {
				continue
			}
			cum += float64(w)
			if cum > target {
				token = i
				break
			}
		}
	}
	for i := range top {
		top[i].Prob = float32(float64(top[i].Prob) / kept)
	}
	res := HeadResult{
		Token:   int32(token),
		Prob:    float32(float64(weights[token]) / kept),
		Margin:  top[0].Prob,
		Entropy: float32(max(0, math.Log(kept)-weightedLogit/kept)),
	}
	if len(top) > 1 {
		res.Margin = top[0].Prob - top[1].Prob
	}
	res.Top = top[:min(max(params.TopN, 0), len(top))]
	return res, nil
}

// keptValues copies the weights >= thr into dst and returns how many.
func keptValues(dst, weights []float32, thr float32) int {
	n := 0
	for _, w := range weights {
		if w >= thr {
			dst[n] = w
			n++
		}
	}
	return n
}

// insertCandidate adds c to top (sorted by Prob descending, then Token
// ascending; capacity is the number kept), dropping the last when full. The
// caller only passes a c that beats the last of a full top.
// Candidates arrive in increasing Token order, so an equal Prob ranks after.
func insertCandidate(top []Candidate, c Candidate) []Candidate {
	if len(top) == cap(top) {
		top = top[:len(top)-1]
	}
	i := len(top)
	for i > 0 && top[i-1].Prob < c.Prob {
		i--
	}
	return slices.Insert(top, i, c)
}

// largestThreshold returns the largest value thr of vals such that the
// values >= thr weigh at least target, where a value weighs itself
// (byMass) or 1 (counting). When even all of vals fall short (rounding),
// it returns the smallest value, keeping everything. vals is reordered.
// Expected O(len(vals)): a weighted quickselect that recurses into one side.
func largestThreshold(vals []float32, target float64, byMass bool) float32 {
	weight := func(v float32) float64 {
		if byMass {
			return float64(v)
		}
		return 1
	}
	var above float64 // weight of the values known to be greater than vals[lo:hi]
	lo, hi := 0, len(vals)
	smallest := float32(math.Inf(1))
	for round := 0; hi-lo > 0; round++ {
		part := vals[lo:hi]
		if len(part) <= 32 || round > 64 {
			slices.SortFunc(part, func(a, b float32) int { return cmpDesc(a, b) })
			for _, v := range part {
				above += weight(v)
				if above >= target {
					return v
				}
			}
			return part[len(part)-1]
		}
		pivot := median3(part[0], part[len(part)/2], part[len(part)-1])
		// Three-way partition: [greater | equal | less].
		gt, i, lt := 0, 0, len(part)
		for i < lt {
			switch v := part[i]; {
			case v > pivot:
				part[gt], part[i] = part[i], part[gt]
				gt++
				i++
			case v < pivot:
				lt--
				part[lt], part[i] = part[i], part[lt]
			default:
				i++
			}
		}
		var wGreater, wEqual float64
		for _, v := range part[:gt] {
			wGreater += weight(v)
		}
		for _, v := range part[gt:lt] {
			wEqual += weight(v)
		}
		switch {
		case above+wGreater >= target:
			hi = lo + gt
		case above+wGreater+wEqual >= target:
			return pivot
		default:
			above += wGreater + wEqual
			smallest = pivot
			lo += lt
		}
	}
	return smallest
}

func cmpDesc(a, b float32) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func median3(a, b, c float32) float32 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	return max(a, b)
}
