package engine

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"diffuapriel/kernels"
	"diffuapriel/models"
)

// CPU is the pure-Go Backend: the forward pass of MODEL.md §2 built from the
// reference ops of package kernels, in float32, spread over all cores.
type CPU struct {
	threads int
	cfg     *models.Config
	w       *cpuWeights
	s       cpuScratch
}

var _ Backend = (*CPU)(nil)

// NewCPU returns a CPU backend using threads goroutines for its kernels;
// threads <= 0 uses every core (runtime.GOMAXPROCS).
func NewCPU(threads int) *CPU {
	return &CPU{threads: max(threads, 0)}
}

// cpuWeights are the model's tensors decoded once to float32, in the
// layouts the kernels read.
type cpuWeights struct {
	embed                      []float32 // [V, d]
	sigW1, sigB1, sigW2, sigB2 []float32
	blocks                     []cpuBlock
	finalNorm                  []float32
	finalAdaW, finalAdaB       []float32
	head, headBias             []float32 // head is embed when tied
	bytes                      int64
}

type cpuBlock struct {
	kind                   string
	hidden                 int
	norm1, norm2           []float32
	adaW, adaB             []float32
	fc1W, fc1B, fc2W, fc2B []float32
	mamba                  [2]*cpuMamba // forward, reverse
	qkv, attnOut           []float32
}

type cpuMamba struct {
	inProj, convW, convB, dtBias, negA, skipD, norm, outProj []float32
}

func (c *CPU) Name() string { return "cpu" }

// Device names the processor and the thread count.
func (c *CPU) Device() string {
	return fmt.Sprintf("%s, %d threads", cpuModelName(), c.workers())
}

func (c *CPU) workers() int {
	if c.threads > 0 {
		return c.threads
	}
	return runtime.GOMAXPROCS(0)
}

// Load decodes every tensor to float32 (copies: the backend never keeps a
// view of the checkpoint's memory map), reporting progress in bytes of the
// checkpoint's tensors.
func (c *CPU) Load(w *models.Weights, progress func(done, total int64)) error {
	if w == nil || w.Config == nil {
		return errors.New("cpu backend: no weights to load")
	}
	cfg := w.Config
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(w.Blocks) != cfg.NLayers {
		return fmt.Errorf("cpu backend: weights hold %d blocks, config n_layers is %d", len(w.Blocks), cfg.NLayers)
	}
	var total, done int64
	seen := map[*models.Tensor]bool{}
	forEachTensor(w, func(t *models.Tensor) {
		if t != nil && !seen[t] {
			seen[t] = true
			total += int64(len(t.Data))
		}
	})
	clear(seen)
	var loadErr error
	decode := func(t *models.Tensor, shape ...int) []float32 {
		if loadErr != nil {
			return nil
		}
		if t == nil {
			loadErr = fmt.Errorf("cpu backend: a tensor of shape %v is missing", shape)
			return nil
		}
		if err := checkTensor(t, shape); err != nil {
			loadErr = err
			return nil
		}
		data := slices.Clone(models.Float32s(t))
		if !seen[t] {
			seen[t] = true
			done += int64(len(t.Data))
			if progress != nil {
				progress(done, total)
			}
		}
		return data
	}

	d, V, cd := cfg.DModel, cfg.VocabSize, cfg.CondDim
	cw := &cpuWeights{
		embed: decode(w.VocabEmbed, V, d),
		sigW1: decode(w.SigmaW1, cd, models.SigmaFeatures), sigB1: decode(w.SigmaB1, cd),
		sigW2: decode(w.SigmaW2, cd, cd), sigB2: decode(w.SigmaB2, cd),
	}
	kinds := cfg.LayerKinds()
	for i, b := range w.Blocks {
		if b.Kind != kinds[i] {
			return fmt.Errorf("cpu backend: block %d is %q, config says %q", i, b.Kind, kinds[i])
		}
		r := cfg.MLPHidden(b.Kind)
		cb := cpuBlock{
			kind: b.Kind, hidden: r,
			norm1: decode(b.Norm1, d), norm2: decode(b.Norm2, d),
			adaW: decode(b.AdaW, 6*d, cd), adaB: decode(b.AdaB, 6*d),
			fc1W: decode(b.FC1W, r, d), fc1B: decode(b.FC1B, r),
			fc2W: decode(b.FC2W, d, r), fc2B: decode(b.FC2B, d),
		}
		if b.Kind == models.LayerAttention {
			if b.Attention == nil {
				return fmt.Errorf("cpu backend: block %d has no attention weights", i)
			}
			cb.qkv = decode(b.Attention.QKV, 3*d, d)
			cb.attnOut = decode(b.Attention.OutProj, d, d)
		} else {
			h, di := cfg.MambaHeads(), cfg.DInner()
			for dir, m := range b.Mamba {
				if m == nil {
					return fmt.Errorf("cpu backend: block %d has no mamba weights", i)
				}
				cm := &cpuMamba{
					inProj: decode(m.InProj, cfg.InProjDim(), d),
					convW:  decode(m.ConvW, cfg.ConvDim(), 1, cfg.Mamba.DConv),
					convB:  decode(m.ConvB, cfg.ConvDim()),
					dtBias: decode(m.DtBias, h), negA: decode(m.ALog, h), skipD: decode(m.D, h),
					norm: decode(m.Norm, di), outProj: decode(m.OutProj, d, di),
				}
				for j, v := range cm.negA {
					cm.negA[j] = -float32(math.Exp(float64(v)))
				}
				cb.mamba[dir] = cm
			}
		}
		cw.blocks = append(cw.blocks, cb)
	}
	cw.finalNorm = decode(w.FinalNorm, d)
	cw.finalAdaW, cw.finalAdaB = decode(w.FinalAdaW, 2*d, cd), decode(w.FinalAdaB, 2*d)
	if cfg.TieEmbeddings || w.Head == w.VocabEmbed {
		cw.head = cw.embed
	} else {
		cw.head = decode(w.Head, V, d)
	}
	cw.headBias = decode(w.HeadBias, V)
	if loadErr != nil {
		return loadErr
	}
	for t := range seen {
		cw.bytes += int64(t.Numel()) * 4
	}
	c.cfg, c.w = cfg, cw
	c.s = cpuScratch{}
	return nil
}

// forEachTensor visits every tensor reference of w (a tied head twice).
func forEachTensor(w *models.Weights, visit func(*models.Tensor)) {
	for _, t := range []*models.Tensor{w.VocabEmbed, w.SigmaW1, w.SigmaB1, w.SigmaW2, w.SigmaB2,
		w.FinalNorm, w.FinalAdaW, w.FinalAdaB, w.Head, w.HeadBias} {
		visit(t)
	}
	for _, b := range w.Blocks {
		for _, t := range []*models.Tensor{b.Norm1, b.Norm2, b.AdaW, b.AdaB, b.FC1W, b.FC1B, b.FC2W, b.FC2B} {
			visit(t)
		}
		if b.Attention != nil {
			visit(b.Attention.QKV)
			visit(b.Attention.OutProj)
		}
		for _, m := range b.Mamba {
			if m != nil {
				for _, t := range []*models.Tensor{m.InProj, m.ConvW, m.ConvB, m.DtBias, m.ALog, m.D, m.Norm, m.OutProj} {
					visit(t)
				}
			}
		}
	}
}

// checkTensor rejects a tensor the decoder cannot read, naming it.
func checkTensor(t *models.Tensor, shape []int) error {
	if !slices.Equal(t.Shape, shape) {
		return fmt.Errorf("cpu backend: tensor %q has shape %v, want %v", t.Name, t.Shape, shape)
	}
	if t.DType.Size() == 0 {
		return fmt.Errorf("cpu backend: tensor %q has unknown dtype %q", t.Name, t.DType)
	}
	if len(t.Data) != t.Numel()*t.DType.Size() {
		return fmt.Errorf("cpu backend: tensor %q holds %d bytes, its shape needs %d", t.Name, len(t.Data), t.Numel()*t.DType.Size())
	}
	return nil
}

// Logits runs the forward pass and returns final.linear's output [L*V]
// (before SUBS) in a fresh slice.
func (c *CPU) Logits(tokens []int32, sigma float64) ([]float32, error) {
	final, err := c.forward(tokens, sigma)
	if err != nil {
		return nil, err
	}
	L, V, d := len(tokens), c.cfg.VocabSize, c.cfg.DModel
	logits := make([]float32, L*V)
	kernels.MatMulTransB(logits, final, c.w.head, L, V, d, c.w.headBias)
	return logits, nil
}

// headRows bounds how many positions' logits exist at once in Sample.
const headRows = 32

// Sample runs the forward pass and the head only at q.Positions, in blocks
// of headRows rows, and draws each position's token with kernels.SampleHead.
// A queried position whose input is not the mask token carries it over
// (SUBS): token = input, p = 1, margin 1, entropy 0; when no queried
// position is masked, the forward pass is skipped.
func (c *CPU) Sample(tokens []int32, sigma float64, q *HeadQuery) ([]PositionStats, error) {
	if err := c.checkInput(tokens, sigma); err != nil {
		return nil, err
	}
	if err := q.Validate(len(tokens)); err != nil {
		return nil, fmt.Errorf("cpu backend: %v", err)
	}
	cfg, s := c.cfg, &c.s
	stats, masked := q.carryOver(tokens, int32(cfg.MaskTokenID))
	if len(masked) == 0 {
		return stats, nil
	}
	final, err := c.forward(tokens, sigma)
	if err != nil {
		return nil, err
	}
	V, d := cfg.VocabSize, cfg.DModel
	params := kernels.HeadParams{MaskID: cfg.MaskTokenID, Temperature: q.Temperature, TopK: q.TopK, TopP: q.TopP, TopN: q.TopN}
	workers := c.workers()
	s.headRows = grow(s.headRows, headRows*d)
	s.headLogits = grow(s.headLogits, headRows*V)
	s.headWork = grow(s.headWork, workers*2*V)
	errs := make([]error, workers)
	for b0 := 0; b0 < len(masked); b0 += headRows {
		block := masked[b0:min(b0+headRows, len(masked))]
		for r, i := range block {
			p := int(q.Positions[i])
			copy(s.headRows[r*d:(r+1)*d], final[p*d:(p+1)*d])
		}
		n := len(block)
		kernels.MatMulTransB(s.headLogits[:n*V], s.headRows[:n*d], c.w.head, n, V, d, c.w.headBias)
		kernels.ParallelFor(n, 1, func(part, lo, hi int) {
			work := s.headWork[part*2*V : (part+1)*2*V]
			for r := lo; r < hi; r++ {
				i := block[r]
				u := float32(0)
				if len(q.Uniform) > 0 {
					u = q.Uniform[i]
				}
				res, err := kernels.SampleHead(s.headLogits[r*V:(r+1)*V], params, u, work)
				if err != nil {
					errs[part] = fmt.Errorf("cpu backend: position %d: %v", q.Positions[i], err)
					return
				}
				st := PositionStats{Pos: q.Positions[i], Token: res.Token, Prob: res.Prob, Margin: res.Margin, Entropy: res.Entropy}
				for _, cand := range res.Top {
					st.Top = append(st.Top, Candidate(cand))
				}
				stats[i] = st
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return stats, nil
}

// Memory reports the bytes of decoded weights and scratch buffers held, and
// the machine's physical memory (0 when unknown).
func (c *CPU) Memory() (used, total uint64) {
	if c.w != nil {
		used = uint64(c.w.bytes)
	}
	return used + uint64(c.s.bytes())*4, physicalMemory()
}

// Close releases the weights and buffers.
func (c *CPU) Close() error {
	c.cfg, c.w, c.s = nil, nil, cpuScratch{}
	return nil
}

// physicalMemory reads MemTotal from /proc/meminfo (Linux); 0 elsewhere.
func physicalMemory() uint64 {
	v := procField("/proc/meminfo", "MemTotal")
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return 0
	}
	kb, err := strconv.ParseUint(fields[0], 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}

// cpuModelName is the processor's name from /proc/cpuinfo, or GOARCH.
func cpuModelName() string {
	if name := procField("/proc/cpuinfo", "model name"); name != "" {
		return name
	}
	return runtime.GOARCH
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
