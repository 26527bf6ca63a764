// Package engine runs DiffuApriel denoisers and the reverse diffusion that
// samples from them. A Backend computes one forward pass (CPU or GPU); a Run
// walks the noise schedule and reports every step as a StepEvent. The engine
// knows nothing of any user interface.
package engine

import "diffuapriel/models"

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
