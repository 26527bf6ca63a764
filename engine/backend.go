// Package engine runs DiffuApriel denoisers and the reverse diffusion that
// samples from them. A Backend computes one forward pass (CPU or GPU); a Run
// walks the noise schedule and reports every step as a StepEvent. The engine
// knows nothing of any user interface.
package engine

import (
	"errors"
	"fmt"
	"math"

	"diffuapriel/models"
)

// Candidate is one token with its probability under the sampling distribution.
type Candidate struct {
	Token int32   `json:"token"`
	Prob  float32 `json:"p"`
}

// HeadQuery asks a backend to sample the output head at some positions.
// The host draws the uniforms so every backend samples the same tokens for
// the same seed (up to floating-point ties).
type HeadQuery struct {
	Positions   []int32   // positions to sample, usually the masked ones
	Uniform     []float32 // one uniform in [0,1) per position, for inverse-CDF sampling
	Temperature float32   // <= 0 means greedy (argmax); scores then use temperature 1
	TopK        int       // keep the k most likely tokens; <= 0 keeps all
	TopP        float32   // keep the smallest most-likely set with mass >= p; <= 0 or >= 1 keeps all
	TopN        int       // candidates to report per position (0..MaxTopN)
}

// MaxTopN bounds HeadQuery.TopN so per-step traffic stays O(L).
const MaxTopN = 8

// PositionStats is what the head reports for one queried position: the drawn
// candidate and the scores the samplers rank by, all under the filtered,
// renormalised distribution p (SUBS: the mask token has probability 0).
type PositionStats struct {
	Pos     int32       `json:"pos"`
	Token   int32       `json:"token"`
	Prob    float32     `json:"p"`       // p(Token): the "confidence" score
	Margin  float32     `json:"margin"`  // top-1 minus top-2 probability
	Entropy float32     `json:"entropy"` // entropy of p in nats
	Top     []Candidate `json:"top,omitempty"`
}

// Backend computes the denoiser. Implementations: CPU (always) and CUDA
// (build tag cuda). A Backend is used from one goroutine at a time.
type Backend interface {
	// Name is "cpu" or "gpu"; Device describes the hardware for status bars.
	Name() string
	Device() string
	// Load uploads (or prepares) the weights; progress reports bytes done.
	Load(w *models.Weights, progress func(done, total int64)) error
	// Logits runs a forward pass and returns final.linear's output, [L*V]
	// row-major, before SUBS (tests compare these against fixtures).
	Logits(tokens []int32, sigma float64) ([]float32, error)
	// Sample runs a forward pass and samples the head at q.Positions.
	Sample(tokens []int32, sigma float64, q *HeadQuery) ([]PositionStats, error)
	// Memory reports bytes in use by this backend and the device total.
	Memory() (used, total uint64)
	Close() error
}

// Validate checks a head query against a sequence of length L; every
// backend calls it, so they all refuse the same queries.
func (q *HeadQuery) Validate(L int) error {
	switch {
	case q == nil:
		return errors.New("no head query")
	case math.IsNaN(float64(q.Temperature)) || math.IsInf(float64(q.Temperature), 0):
		return fmt.Errorf("temperature is %v", q.Temperature)
	case math.IsNaN(float64(q.TopP)):
		return errors.New("top-p is NaN")
	case q.TopN < 0 || q.TopN > MaxTopN:
		return fmt.Errorf("top-n must be 0..%d, got %d", MaxTopN, q.TopN)
	case q.Temperature > 0 && len(q.Uniform) != len(q.Positions):
		return fmt.Errorf("%d uniforms for %d positions", len(q.Uniform), len(q.Positions))
	case len(q.Uniform) != 0 && len(q.Uniform) != len(q.Positions):
		return fmt.Errorf("%d uniforms for %d positions", len(q.Uniform), len(q.Positions))
	}
	for i, p := range q.Positions {
		if p < 0 || int(p) >= L {
			return fmt.Errorf("query position %d (entry %d) outside the sequence of length %d", p, i, L)
		}
	}
	for i, u := range q.Uniform {
		if !(u >= 0 && u < 1) {
			return fmt.Errorf("uniform %v (entry %d) not in [0, 1)", u, i)
		}
	}
	return nil
}

// carryOver applies SUBS to the queried positions whose input is not the
// mask: their stats are the input token with probability 1. It returns the
// stats so filled and the indices (into q.Positions) of the masked positions,
// which need the head.
func (q *HeadQuery) carryOver(tokens []int32, mask int32) ([]PositionStats, []int) {
	stats := make([]PositionStats, len(q.Positions))
	var masked []int
	for i, p := range q.Positions {
		if tok := tokens[p]; tok != mask {
			stats[i] = PositionStats{Pos: p, Token: tok, Prob: 1, Margin: 1}
			if q.TopN > 0 {
				stats[i].Top = []Candidate{{Token: tok, Prob: 1}}
			}
			continue
		}
		masked = append(masked, i)
	}
	return stats, masked
}
