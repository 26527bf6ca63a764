package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"diffuapriel/models"
)

// SamplerNames lists the samplers (MODEL.md §5) in the order the UI cycles.
var SamplerNames = []string{"ancestral", "ancestral-cache", "confidence", "margin", "entropy", "random", "threshold"}

// Options are the sampling controls of one generation.
type Options struct {
	Steps       int     `json:"steps"`
	Schedule    string  `json:"schedule"`
	Sampler     string  `json:"sampler"`
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"top_k"`
	TopP        float64 `json:"top_p"`
	Threshold   float64 `json:"threshold"`
	BlockLength int     `json:"block_length"`
	Seed        uint64  `json:"seed"`
	TopN        int     `json:"top_n"` // candidates kept per position for inspection
}

// DefaultOptions are the CLI's and the playground's defaults. Ancestral
// sampling (MDLM's reverse process: every masked position unmasks with the
// schedule's probability, in no order of confidence) at temperature 0.9 with
// nucleus 0.9 reads best on the demo models: on 6 seeds x 128 tokens it
// repeats a word back to back in 0.2-0.5% of words, against 1% for
// lowest-entropy remasking and 67% for confidence ranking, which keeps
// choosing the same frequent words ("of the court of the court");
// train/sample_stats.py measures it.
func DefaultOptions() Options {
	return Options{Steps: 64, Schedule: "loglinear", Sampler: "ancestral", Temperature: 0.9,
		TopP: 0.9, Threshold: 0.9, Seed: 1, TopN: 5}
}

// Validate names the first bad option.
func (o Options) Validate() error {
	switch {
	case o.Steps < 1 || o.Steps > 1<<20:
		return fmt.Errorf("steps must be 1..%d, got %d", 1<<20, o.Steps)
	case !(o.Temperature >= 0) || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("temperature must be >= 0, got %g", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("top-k must be >= 0, got %d", o.TopK)
	case !(o.TopP >= 0 && o.TopP <= 1):
		return fmt.Errorf("top-p must be in [0, 1], got %g", o.TopP)
	case !(o.Threshold >= 0 && o.Threshold <= 1):
		return fmt.Errorf("threshold must be in [0, 1], got %g", o.Threshold)
	case o.BlockLength < 0:
		return fmt.Errorf("block length must be >= 0, got %d", o.BlockLength)
	case o.TopN < 0 || o.TopN > MaxTopN:
		return fmt.Errorf("top-n must be 0..%d, got %d", MaxTopN, o.TopN)
	}
	for _, s := range SamplerNames {
		if s == o.Sampler {
			return nil
		}
	}
	return fmt.Errorf("unknown sampler %q (want ancestral, ancestral-cache, confidence, margin, entropy, random or threshold)", o.Sampler)
}

// Reveal is one position unmasked by a step.
type Reveal struct {
	Pos   int         `json:"pos"`
	Token int32       `json:"token"`
	Score float32     `json:"score"` // what the sampler ranked by
	Prob  float32     `json:"p"`     // probability of Token when drawn
	Top   []Candidate `json:"top,omitempty"`
}

// StepEvent reports one step of the reverse diffusion.
type StepEvent struct {
	Index        int             `json:"index"`  // position in the run's event list
	Step         int             `json:"step"`   // schedule step, 1..Steps
	Steps        int             `json:"steps"`  // scheduled steps in the whole run
	Block        int             `json:"block"`  // semi-autoregressive block, 0-based
	Blocks       int             `json:"blocks"` // number of blocks
	T            float64         `json:"t"`
	S            float64         `json:"s"`
	Sigma        float64         `json:"sigma"`
	Revealed     []Reveal        `json:"revealed"`
	Candidates   []PositionStats `json:"candidates,omitempty"` // head stats of queried positions still masked
	MasksLeft    int             `json:"masks_left"`
	Forward      time.Duration   `json:"forward_ns"`
	ModelCalled  bool            `json:"model_called"`
	NoiseRemoval bool            `json:"noise_removal,omitempty"`
	Done         bool            `json:"done"`
}

// ErrDone is returned by Step after the last event.
var ErrDone = errors.New("generation finished")

// Run is one generation in progress. It is not safe for concurrent use; the
// playground owns a Run from a single worker goroutine.
type Run struct {
	backend  Backend
	mask     int32
	timeCond bool
	canvas   Canvas
	opts     Options
	sched    Schedule
	blockOf  []int // block index of each non-fixed position, -1 for fixed
	stepsPer []int // scheduled steps of each block
	block    int   // current block
	inBlock  int   // steps taken in the current block
	step     int   // scheduled steps taken overall
	index    int   // events emitted
	done     bool
}

// NewRun prepares a generation of canvas with the model described by cfg.
func NewRun(b Backend, cfg *models.Config, canvas Canvas, o Options) (*Run, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	sched, err := NewSchedule(o.Schedule, cfg.Noise)
	if err != nil {
		return nil, err
	}
	if len(canvas.Tokens) != len(canvas.Fixed) || len(canvas.Tokens) == 0 {
		return nil, fmt.Errorf("canvas has %d tokens and %d fixed flags", len(canvas.Tokens), len(canvas.Fixed))
	}
	if len(canvas.Tokens) > cfg.MaxSeqLen {
		return nil, fmt.Errorf("sequence of %d tokens is longer than the model's context of %d", len(canvas.Tokens), cfg.MaxSeqLen)
	}
	mask := int32(cfg.MaskTokenID)
	for i, t := range canvas.Tokens {
		if t < 0 || int(t) >= cfg.VocabSize {
			return nil, fmt.Errorf("token %d at position %d is outside the model's vocabulary of %d", t, i, cfg.VocabSize)
		}
		if canvas.Fixed[i] && t == mask {
			return nil, fmt.Errorf("position %d is fixed but masked", i)
		}
	}
	r := &Run{backend: b, mask: mask, timeCond: cfg.TimeConditioning, canvas: canvas.Clone(), opts: o, sched: sched}
	r.layoutBlocks()
	r.done = r.canvas.Masked(mask) == 0
	return r, nil
}

// layoutBlocks splits the generated (non-fixed) positions into blocks of
// BlockLength, left to right, and divides the steps among them.
func (r *Run) layoutBlocks() {
	r.blockOf = make([]int, len(r.canvas.Tokens))
	n := 0
	for i, fixed := range r.canvas.Fixed {
		if fixed {
			r.blockOf[i] = -1
			continue
		}
		if r.opts.BlockLength > 0 {
			r.blockOf[i] = n / r.opts.BlockLength
		}
		n++
	}
	blocks := 1
	if r.opts.BlockLength > 0 && n > 0 {
		blocks = (n + r.opts.BlockLength - 1) / r.opts.BlockLength
	}
	r.stepsPer = make([]int, blocks)
	for b := range r.stepsPer {
		r.stepsPer[b] = max(1, r.opts.Steps/blocks)
		if b < r.opts.Steps%blocks {
			r.stepsPer[b]++
		}
	}
}

// Canvas returns a copy of the current state.
func (r *Run) Canvas() Canvas { return r.canvas.Clone() }

// Done reports whether the generation has finished.
func (r *Run) Done() bool { return r.done }

// TotalSteps is the number of scheduled steps (noise removal excluded).
func (r *Run) TotalSteps() int {
	n := 0
	for _, s := range r.stepsPer {
		n += s
	}
	return n
}

// Seek moves the schedule to just after scheduled step `step` (0 = start)
// without computing anything, so a run resumed from a recorded or steered
// canvas continues exactly where the original stood.
func (r *Run) Seek(step, index int) error {
	if step < 0 || step > r.TotalSteps() {
		return fmt.Errorf("step %d is outside 0..%d", step, r.TotalSteps())
	}
	r.block, r.inBlock, r.step, r.index = 0, 0, 0, index
	for r.step < step {
		r.advance()
	}
	r.done = r.canvas.Masked(r.mask) == 0
	return nil
}

// Pin sets a non-fixed position to a chosen token (steering).
func (r *Run) Pin(pos int, token int32) error {
	if err := r.steerable(pos); err != nil {
		return err
	}
	if token < 0 || token == r.mask {
		return fmt.Errorf("cannot pin token %d", token)
	}
	r.canvas.Tokens[pos] = token
	r.done = r.canvas.Masked(r.mask) == 0
	return nil
}

// Remask hides a revealed position again so the diffusion redraws it.
func (r *Run) Remask(pos int) error {
	if err := r.steerable(pos); err != nil {
		return err
	}
	r.canvas.Tokens[pos] = r.mask
	r.done = false
	return nil
}

func (r *Run) steerable(pos int) error {
	if pos < 0 || pos >= len(r.canvas.Tokens) {
		return fmt.Errorf("position %d is outside the sequence", pos)
	}
	if r.canvas.Fixed[pos] {
		return fmt.Errorf("position %d is part of the prompt", pos)
	}
	return nil
}

// advance moves the schedule one step, into the next block when one ends.
func (r *Run) advance() {
	r.step++
	r.inBlock++
	if r.inBlock >= r.stepsPer[r.block] && r.block < len(r.stepsPer)-1 {
		r.block++
		r.inBlock = 0
	}
}

// eligible lists the masked positions the current block may reveal: those
// of this block and of earlier blocks (re-masked by steering).
func (r *Run) eligible() []int32 {
	var pos []int32
	for i, t := range r.canvas.Tokens {
		if t == r.mask && r.blockOf[i] <= r.block {
			pos = append(pos, int32(i))
		}
	}
	return pos
}

// Step performs the next step (or the final noise removal) and reports it.
func (r *Run) Step() (StepEvent, error) {
	if r.done {
		return StepEvent{}, ErrDone
	}
	eligible := r.eligible()
	for len(eligible) == 0 && r.block < len(r.stepsPer)-1 {
		// Nothing left to reveal in this block (threshold sampler, steering):
		// its remaining steps have no work, so move to the next block.
		r.step += r.stepsPer[r.block] - r.inBlock
		r.block++
		r.inBlock = 0
		eligible = r.eligible()
	}
	scheduleOver := r.inBlock >= r.stepsPer[r.block]
	rng := rand.New(rand.NewPCG(r.opts.Seed, uint64(r.index)))
	var ev StepEvent
	var err error
	if scheduleOver {
		ev, err = r.noiseRemoval(eligible, rng)
	} else {
		ev, err = r.scheduledStep(eligible, rng)
	}
	if err != nil {
		return StepEvent{}, err
	}
	ev.Index = r.index
	ev.Steps = r.TotalSteps()
	ev.Blocks = len(r.stepsPer)
	ev.MasksLeft = r.canvas.Masked(r.mask)
	r.index++
	r.done = ev.MasksLeft == 0
	ev.Done = r.done
	return ev, nil
}

// grid returns the current step's times within its block.
func (r *Run) grid() (t, s float64) {
	ts := TimeGrid(r.stepsPer[r.block])
	return ts[r.inBlock], ts[r.inBlock+1]
}

func (r *Run) sigma(t float64) float64 {
	if !r.timeCond {
		return 0
	}
	return r.sched.Sigma(t)
}

func (r *Run) query(pos []int32, rng *rand.Rand, greedy bool) *HeadQuery {
	q := &HeadQuery{Positions: pos, Uniform: make([]float32, len(pos)), Temperature: float32(r.opts.Temperature),
		TopK: r.opts.TopK, TopP: float32(r.opts.TopP), TopN: r.opts.TopN}
	for i := range q.Uniform {
		q.Uniform[i] = rng.Float32()
	}
	if greedy {
		q.Temperature = 0
	}
	return q
}

func (r *Run) sample(tokens []int32, sigma float64, q *HeadQuery, ev *StepEvent) ([]PositionStats, error) {
	start := time.Now()
	stats, err := r.backend.Sample(tokens, sigma, q)
	ev.Forward = time.Since(start)
	ev.ModelCalled = true
	if err != nil {
		return nil, err
	}
	if len(stats) != len(q.Positions) {
		return nil, fmt.Errorf("backend returned %d stats for %d positions", len(stats), len(q.Positions))
	}
	return stats, nil
}

func (r *Run) scheduledStep(eligible []int32, rng *rand.Rand) (StepEvent, error) {
	t, s := r.grid()
	ev := StepEvent{Step: r.step + 1, Block: r.block, T: t, S: s, Sigma: r.sigma(t)}
	frac := r.sched.RevealFraction(t, s)
	var chosen []PositionStats
	switch r.opts.Sampler {
	case "ancestral", "ancestral-cache":
		// Which positions unmask does not depend on the model's output, so
		// it is decided first; the cached variant then skips the call when
		// nothing unmasks. The head still reports every masked position, as
		// MDLM computes the whole distribution, so the inspector sees them.
		picked := map[int32]bool{}
		for _, p := range eligible {
			if rng.Float64() < frac {
				picked[p] = true
			}
		}
		if len(picked) > 0 || r.opts.Sampler == "ancestral" {
			stats, err := r.sample(r.canvas.Tokens, ev.Sigma, r.query(eligible, rng, false), &ev)
			if err != nil {
				return ev, err
			}
			for _, st := range stats {
				if picked[st.Pos] {
					chosen = append(chosen, st)
				}
			}
			r.reveal(&ev, chosen, func(st PositionStats) float32 { return st.Prob })
			ev.Candidates = stillMasked(stats, r.canvas.Tokens, r.mask)
		}
	default:
		stats, err := r.sample(r.canvas.Tokens, ev.Sigma, r.query(eligible, rng, false), &ev)
		if err != nil {
			return ev, err
		}
		score := r.scoreFunc(rng, len(stats))
		chosen = r.choose(stats, score, frac)
		r.reveal(&ev, chosen, score)
		ev.Candidates = stillMasked(stats, r.canvas.Tokens, r.mask)
	}
	r.advance()
	return ev, nil
}

// noiseRemoval gives every position still masked when the schedule is over
// the most likely token of one more model call (MDLM's final step). Masks a
// block leaves behind stay eligible in the next block, so this runs once.
func (r *Run) noiseRemoval(eligible []int32, rng *rand.Rand) (StepEvent, error) {
	ts := TimeGrid(r.stepsPer[r.block])
	t := ts[len(ts)-1]
	ev := StepEvent{Step: r.step, Block: r.block, T: t, S: 0, Sigma: r.sigma(t), NoiseRemoval: true}
	stats, err := r.sample(r.canvas.Tokens, ev.Sigma, r.query(eligible, rng, true), &ev)
	if err != nil {
		return ev, err
	}
	r.reveal(&ev, stats, func(st PositionStats) float32 { return st.Prob })
	return ev, nil
}

// scoreFunc returns the remasking score: higher reveals first.
func (r *Run) scoreFunc(rng *rand.Rand, n int) func(PositionStats) float32 {
	switch r.opts.Sampler {
	case "margin":
		return func(st PositionStats) float32 { return st.Margin }
	case "entropy":
		return func(st PositionStats) float32 { return -st.Entropy }
	case "random":
		draws := make(map[int32]float32, n)
		return func(st PositionStats) float32 {
			if v, ok := draws[st.Pos]; ok {
				return v
			}
			draws[st.Pos] = rng.Float32()
			return draws[st.Pos]
		}
	}
	return func(st PositionStats) float32 { return st.Prob }
}

// choose picks the positions a remasking or threshold step reveals.
func (r *Run) choose(stats []PositionStats, score func(PositionStats) float32, frac float64) []PositionStats {
	if len(stats) == 0 {
		return nil
	}
	ranked := append([]PositionStats(nil), stats...)
	// Score every position once, in position order, so "random" draws are
	// reproducible, then rank by score with ties broken by position.
	scores := make(map[int32]float32, len(ranked))
	for _, st := range ranked {
		scores[st.Pos] = score(st)
	}
	sort.SliceStable(ranked, func(i, j int) bool {
		si, sj := scores[ranked[i].Pos], scores[ranked[j].Pos]
		if si != sj {
			return si > sj
		}
		return ranked[i].Pos < ranked[j].Pos
	})
	if r.opts.Sampler == "threshold" {
		k := 1
		for k < len(ranked) && ranked[k].Prob >= float32(r.opts.Threshold) {
			k++
		}
		return ranked[:k]
	}
	k := int(math.Round(float64(len(stats)) * frac))
	return ranked[:min(len(ranked), max(1, k))]
}

// reveal writes the chosen tokens into the canvas and records them.
func (r *Run) reveal(ev *StepEvent, chosen []PositionStats, score func(PositionStats) float32) {
	for _, st := range chosen {
		r.canvas.Tokens[st.Pos] = st.Token
		ev.Revealed = append(ev.Revealed, Reveal{Pos: int(st.Pos), Token: st.Token, Score: score(st), Prob: st.Prob, Top: st.Top})
	}
	sort.Slice(ev.Revealed, func(i, j int) bool { return ev.Revealed[i].Pos < ev.Revealed[j].Pos })
}

func stillMasked(stats []PositionStats, tokens []int32, mask int32) []PositionStats {
	var out []PositionStats
	for _, st := range stats {
		if tokens[st.Pos] == mask {
			out = append(out, st)
		}
	}
	return out
}
