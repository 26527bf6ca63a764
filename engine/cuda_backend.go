//go:build cuda

package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"unsafe"

	"diffuapriel/kernels"
	"diffuapriel/models"

	"gorgonia.org/cu"
)

// gpuModules lists every kernel module (kernels/<module>.cu) and its entry
// points; the per-shape SSD and attention entries follow ssdTCShapes and
// attentionMaxHeadDim.
func gpuModules() map[string][]string {
	mods := map[string][]string{
		"embed":    {"embed_gather"},
		"cond":     {"sigma_features", "linear_vec"},
		"norm":     {"ln_modulate", "gated_rmsnorm"},
		"residual": {"gated_residual"},
		"gelu":     {"bias_gelu"},
		"conv":     {"conv1d_silu"},
		"rope":     {"rope_qk"},
		"ssd":      {"ssd_chunk", "ssd_state_pass"},
		"head":     {"sample_head"},
	}
	for shape := range ssdTCShapes {
		mods["ssd"] = append(mods["ssd"], fmt.Sprintf("ssd_tc_state_%d_%d", shape[0], shape[1]),
			fmt.Sprintf("ssd_tc_output_%d_%d", shape[0], shape[1]))
	}
	for hd := 16; hd <= attentionMaxHeadDim; hd += 16 {
		mods["attention"] = append(mods["attention"], fmt.Sprintf("attention_hd%d", hd))
	}
	return mods
}

// attentionMaxHeadDim is the largest head dim with an attention kernel
// (ATTENTION_ENTRY in kernels/attention.cu: every multiple of 16 up to it).
const attentionMaxHeadDim = 128

// Sizes shared with the kernels (kernels/head.cu, kernels/ssd.cu).
const (
	headOutWords    = 20 // HEAD_OUT_WORDS; HEAD_MAX_TOP = MaxTopN
	headThreads     = 256
	ssdMaxCols      = 32 // SSD_MAX_COLS
	cublasWorkspace = 32 << 20
	// headLogitBytes bounds the float32 logits of one head chunk, so that
	// 64K positions x 50K tokens never exist at once.
	headLogitBytes = 1 << 30
)

// GPU is the CUDA Backend. All CUDA work runs on one OS-thread-locked
// goroutine (th); the exported methods hand it closures and wait.
type GPU struct {
	th      *cudaThread
	dev     cu.Device
	ctx     cu.CUContext
	stream  cu.Stream
	devName string
	cc, sms int
	blas    *cublas
	fns     map[string]cu.Function
	mods    []cu.Module
	ws      cu.DevicePtr

	cfg  *models.Config
	w    *gpuWeights
	act  gpuActivations
	head gpuHeadBuffers

	// One forward pass is captured as a CUDA graph on the second call at a
	// given length (the first is the warm-up) and replayed afterwards.
	graph    *cudaGraph
	graphL   int
	warmL    int
	graphErr error // why capture failed, if it did; the pass then runs eagerly
	noGraph  bool

	prof *launchProfile // set while ProfileSample runs
}

// devBuf is a device allocation that grows on demand.
type devBuf struct {
	ptr   cu.DevicePtr
	bytes int64
}

type gpuMamba struct {
	inProj, outProj                         cu.DevicePtr // bf16
	convW, convB, dtBias, aLog, skipD, norm cu.DevicePtr // float32
}

type gpuBlock struct {
	kind         string
	hidden       int
	norm1, norm2 cu.DevicePtr // float32
	fc1W, fc2W   cu.DevicePtr // bf16
	fc1B, fc2B   cu.DevicePtr // float32
	mamba        [2]*gpuMamba
	qkv, attnOut cu.DevicePtr // bf16
}

type gpuWeights struct {
	embed, head  cu.DevicePtr // bf16 [vpad, d]; head == embed when tied
	headBias     cu.DevicePtr // float32 [V]
	headBiasHost []float32
	sigW1, sigW2 cu.DevicePtr // bf16
	sigB1, sigB2 cu.DevicePtr // float32
	adaW, adaB   cu.DevicePtr // every block's adaLN rows, then final's: bf16 [modRows, cond], float32 [modRows]
	modRows      int
	finalNorm    cu.DevicePtr
	blocks       []gpuBlock
	vpad         int
	allocs       []cu.DevicePtr
}

type gpuActivations struct {
	tokens, sigma, feat, c1, cond, mods devBuf
	h, a, big, xbc, y, yg, att, mix     devBuf
	states, chunkDA                     devBuf
}

type gpuHeadBuffers struct {
	xq, logits, positions, uniforms, out devBuf
}

// newGPU opens device 0: context, stream, kernel modules and cuBLAS.
func newGPU() (Backend, error) {
	g := &GPU{th: newCudaThread(), fns: map[string]cu.Function{}, noGraph: os.Getenv("DIFFUAPRIEL_CUDA_GRAPH") == "0"}
	if err := g.th.do(g.open); err != nil {
		g.th.do(g.release)
		g.th.stop()
		return nil, fmt.Errorf("gpu backend: %v", err)
	}
	return g, nil
}

func (g *GPU) open() error {
	n, err := cu.NumDevices()
	if err != nil {
		return fmt.Errorf("no usable CUDA device: %v", err)
	}
	if n == 0 {
		return errors.New("no CUDA device found")
	}
	if g.dev, err = cu.GetDevice(0); err != nil {
		return fmt.Errorf("cuDeviceGet: %v", err)
	}
	major, minor, err := g.dev.ComputeCapability()
	if err != nil {
		return fmt.Errorf("reading compute capability: %v", err)
	}
	g.cc = major*10 + minor
	if g.devName, err = g.dev.Name(); err != nil {
		return fmt.Errorf("cuDeviceGetName: %v", err)
	}
	if g.cc < 80 {
		return fmt.Errorf("%s has compute capability %d.%d; the kernels need 8.0 (Ampere) or newer", g.devName, major, minor)
	}
	if g.sms, err = g.dev.Attribute(cu.MultiprocessorCount); err != nil {
		return fmt.Errorf("reading multiprocessor count: %v", err)
	}
	if g.ctx, err = g.dev.RetainPrimaryCtx(); err != nil {
		return fmt.Errorf("creating CUDA context: %v", err)
	}
	if err = cu.SetCurrentContext(g.ctx); err != nil {
		return fmt.Errorf("cuCtxSetCurrent: %v", err)
	}
	if g.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("cuStreamCreate: %v", err)
	}
	for module, names := range gpuModules() {
		ptx, err := kernels.PTX(module, g.cc)
		if err != nil {
			return err
		}
		mod, err := cu.LoadData(ptx)
		if err != nil {
			return fmt.Errorf("loading kernel module %q: %v (the NVIDIA driver may predate CUDA 11.8)", module, err)
		}
		g.mods = append(g.mods, mod)
		for _, name := range names {
			if g.fns[name], err = mod.Function(name); err != nil {
				return fmt.Errorf("kernel %q: %v", name, err)
			}
		}
	}
	if g.blas, err = openCublas(); err != nil {
		return err
	}
	if g.ws, err = cu.MemAlloc(cublasWorkspace); err != nil {
		return fmt.Errorf("allocating the cuBLAS workspace: %v", err)
	}
	return g.blas.bind(streamHandle(&g.stream), uint64(g.ws), cublasWorkspace)
}

// release frees everything open and Load created; safe on a partial open.
func (g *GPU) release() error {
	if g.stream != (cu.Stream{}) {
		g.stream.Synchronize()
	}
	g.dropGraph()
	g.freeWeights()
	for _, b := range g.buffers() {
		freeBuf(b)
	}
	if g.ws != 0 {
		cu.MemFree(g.ws)
		g.ws = 0
	}
	if g.blas != nil {
		g.blas.close()
		g.blas = nil
	}
	for _, m := range g.mods {
		m.Unload()
	}
	g.mods = nil
	if g.stream != (cu.Stream{}) {
		g.stream.Destroy()
	}
	if g.ctx != (cu.CUContext{}) {
		g.dev.ReleasePrimaryCtx()
		g.ctx = cu.CUContext{}
	}
	return nil
}

func (g *GPU) buffers() []*devBuf {
	a, h := &g.act, &g.head
	return []*devBuf{&a.tokens, &a.sigma, &a.feat, &a.c1, &a.cond, &a.mods, &a.h, &a.a, &a.big, &a.xbc, &a.y,
		&a.yg, &a.att, &a.mix, &a.states, &a.chunkDA, &h.xq, &h.logits, &h.positions, &h.uniforms, &h.out}
}

func freeBuf(b *devBuf) {
	if b.ptr != 0 {
		cu.MemFree(b.ptr)
	}
	*b = devBuf{}
}

func (g *GPU) dropGraph() {
	if g.graph != nil {
		g.graph.destroy()
		g.graph = nil
	}
	g.graphL, g.warmL, g.graphErr = 0, 0, nil
}

func (g *GPU) freeWeights() {
	if g.w == nil {
		return
	}
	for _, p := range g.w.allocs {
		cu.MemFree(p)
	}
	g.w = nil
}

func (g *GPU) Name() string { return "gpu" }

// Device names the GPU, its architecture and memory, and the cuBLAS in use.
func (g *GPU) Device() string {
	_, total := g.Memory()
	if g.blas == nil {
		return fmt.Sprintf("%s (sm_%d, closed)", g.devName, g.cc)
	}
	return fmt.Sprintf("%s (sm_%d, %d SMs, %.0f GiB, cuBLAS %d)", g.devName, g.cc, g.sms, float64(total)/(1<<30), g.blas.version)
}

// Memory reports the device's used and total bytes (all processes); zeros
// once closed.
func (g *GPU) Memory() (used, total uint64) {
	if g.th == nil {
		return 0, 0
	}
	g.th.do(func() error {
		free, tot, err := cu.MemInfo()
		if err == nil {
			used, total = uint64(tot-free), uint64(tot)
		}
		return err
	})
	return used, total
}

// Close frees the device memory and the context; the backend is unusable after.
func (g *GPU) Close() error {
	if g.th == nil {
		return nil
	}
	err := g.th.do(g.release)
	g.th.stop()
	g.th = nil
	return err
}

// alloc allocates device memory, naming what it is for when the device is full.
func alloc(bytes int64, what string) (cu.DevicePtr, error) {
	p, err := cu.MemAlloc(max(bytes, 4))
	if err != nil {
		free, total, _ := cu.MemInfo()
		return 0, fmt.Errorf("out of device memory: %s needs %s, %s free of %s (%v)", what, gib(bytes), gib(free), gib(total), err)
	}
	return p, nil
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }

// ensure grows b to at least bytes; it reports whether the pointer changed.
func (g *GPU) ensure(b *devBuf, bytes int64, what string) (bool, error) {
	if b.bytes >= bytes {
		return false, nil
	}
	freeBuf(b)
	p, err := alloc(bytes, what)
	if err != nil {
		return false, err
	}
	*b = devBuf{ptr: p, bytes: bytes}
	return true, nil
}

// Load uploads the weights as bf16 (matrices) and float32 (vectors and conv
// taps), reporting progress in bytes of the checkpoint's tensors.
func (g *GPU) Load(w *models.Weights, progress func(done, total int64)) error {
	if g.th == nil {
		return errors.New("gpu backend: closed")
	}
	if w == nil || w.Config == nil {
		return errors.New("gpu backend: no weights to load")
	}
	cfg := w.Config
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := gpuSupports(cfg); err != nil {
		return fmt.Errorf("gpu backend: %v", err)
	}
	if len(w.Blocks) != cfg.NLayers {
		return fmt.Errorf("gpu backend: weights hold %d blocks, config n_layers is %d", len(w.Blocks), cfg.NLayers)
	}
	return g.th.do(func() error {
		if err := g.stream.Synchronize(); err != nil {
			return fmt.Errorf("gpu backend: %v", err)
		}
		g.dropGraph()
		g.freeWeights()
		for _, b := range g.buffers() { // the new model sizes them afresh
			freeBuf(b)
		}
		g.cfg = nil
		gw, err := uploadWeights(w, progress)
		if err != nil {
			if gw != nil {
				for _, p := range gw.allocs {
					cu.MemFree(p)
				}
			}
			return fmt.Errorf("gpu backend: %v", err)
		}
		g.w, g.cfg = gw, cfg
		return nil
	})
}

// gpuSupports rejects configs the kernels cannot run, naming the field.
func gpuSupports(cfg *models.Config) error {
	for _, k := range cfg.LayerKinds() {
		switch k {
		case models.LayerAttention:
			if hd := cfg.AttnHeadDim(); hd%16 != 0 || hd > attentionMaxHeadDim {
				return fmt.Errorf("attention head_dim %d (d_model/attention.n_heads) is not supported on the GPU: it must be a multiple of 16, at most %d", hd, attentionMaxHeadDim)
			}
		case models.LayerMamba:
			m := cfg.Mamba
			if m.DState > 32*ssdMaxCols || m.HeadDim*ssdSplit(m.DState) > 1024 {
				return fmt.Errorf("mamba.d_state %d with mamba.headdim %d is not supported on the GPU (d_state <= 1024, headdim x ceil(d_state/32) <= 1024)", m.DState, m.HeadDim)
			}
		}
	}
	return nil
}

// ssdSplit is the number of threads sharing one state row: the power of two
// that leaves each at most ssdMaxCols columns.
func ssdSplit(dState int) int {
	n := 1
	for dState > n*ssdMaxCols {
		n *= 2
	}
	return n
}

// weightUploader copies tensors to the device, tracking progress and allocations.
type weightUploader struct {
	gw          *gpuWeights
	done, total int64
	seen        map[*models.Tensor]bool
	progress    func(done, total int64)
}

func uploadWeights(w *models.Weights, progress func(done, total int64)) (*gpuWeights, error) {
	cfg := w.Config
	d, V, cd := cfg.DModel, cfg.VocabSize, cfg.CondDim
	u := &weightUploader{gw: &gpuWeights{vpad: (V + 63) / 64 * 64}, seen: map[*models.Tensor]bool{}, progress: progress}
	forEachTensor(w, func(t *models.Tensor) {
		if t != nil && !u.seen[t] {
			u.seen[t] = true
			u.total += int64(len(t.Data))
		}
	})
	clear(u.seen)
	gw := u.gw
	var err error
	bf := func(dst *cu.DevicePtr, t *models.Tensor, rows, cols, padRows int) {
		if err == nil {
			*dst, err = u.matrix(t, rows, cols, padRows)
		}
	}
	f32 := func(dst *cu.DevicePtr, t *models.Tensor, shape ...int) {
		if err == nil {
			*dst, err = u.vector(t, shape)
		}
	}
	bf(&gw.embed, w.VocabEmbed, V, d, gw.vpad)
	if cfg.TieEmbeddings {
		gw.head = gw.embed
	} else {
		bf(&gw.head, w.Head, V, d, gw.vpad)
	}
	f32(&gw.headBias, w.HeadBias, V)
	bf(&gw.sigW1, w.SigmaW1, cd, models.SigmaFeatures, cd)
	f32(&gw.sigB1, w.SigmaB1, cd)
	bf(&gw.sigW2, w.SigmaW2, cd, cd, cd)
	f32(&gw.sigB2, w.SigmaB2, cd)
	f32(&gw.finalNorm, w.FinalNorm, d)
	if err != nil {
		return gw, err
	}
	gw.headBiasHost = append([]float32(nil), models.Float32s(w.HeadBias)...)

	// Every adaLN modulation is one matrix-vector product of the same
	// conditioning vector, so all blocks' rows (then final's) live in one matrix.
	gw.modRows = 6*d*cfg.NLayers + 2*d
	if gw.adaW, err = u.alloc(int64(gw.modRows*cd)*2, "adaLN weights"); err != nil {
		return gw, err
	}
	if gw.adaB, err = u.alloc(int64(gw.modRows)*4, "adaLN biases"); err != nil {
		return gw, err
	}
	row := 0
	appendAda := func(wt, bt *models.Tensor, rows int) {
		if err == nil {
			err = u.copyMatrix(gw.adaW+cu.DevicePtr(row*cd*2), wt, rows, cd)
		}
		if err == nil {
			err = u.copyVector(gw.adaB+cu.DevicePtr(row*4), bt, []int{rows})
		}
		row += rows
	}
	kinds := cfg.LayerKinds()
	for i, b := range w.Blocks {
		if b.Kind != kinds[i] {
			return gw, fmt.Errorf("block %d is %q, config says %q", i, b.Kind, kinds[i])
		}
		appendAda(b.AdaW, b.AdaB, 6*d)
		r := cfg.MLPHidden(b.Kind)
		gb := gpuBlock{kind: b.Kind, hidden: r}
		f32(&gb.norm1, b.Norm1, d)
		f32(&gb.norm2, b.Norm2, d)
		bf(&gb.fc1W, b.FC1W, r, d, r)
		f32(&gb.fc1B, b.FC1B, r)
		bf(&gb.fc2W, b.FC2W, d, r, d)
		f32(&gb.fc2B, b.FC2B, d)
		if b.Kind == models.LayerAttention {
			if b.Attention == nil {
				return gw, fmt.Errorf("block %d has no attention weights", i)
			}
			bf(&gb.qkv, b.Attention.QKV, 3*d, d, 3*d)
			bf(&gb.attnOut, b.Attention.OutProj, d, d, d)
		} else {
			h, di, cv, P := cfg.MambaHeads(), cfg.DInner(), cfg.ConvDim(), cfg.InProjDim()
			for dir, m := range b.Mamba {
				if m == nil {
					return gw, fmt.Errorf("block %d has no mamba weights", i)
				}
				gm := &gpuMamba{}
				bf(&gm.inProj, m.InProj, P, d, P)
				f32(&gm.convW, m.ConvW, cv, 1, cfg.Mamba.DConv)
				f32(&gm.convB, m.ConvB, cv)
				f32(&gm.dtBias, m.DtBias, h)
				f32(&gm.aLog, m.ALog, h)
				f32(&gm.skipD, m.D, h)
				f32(&gm.norm, m.Norm, di)
				bf(&gm.outProj, m.OutProj, d, di, d)
				gb.mamba[dir] = gm
			}
		}
		gw.blocks = append(gw.blocks, gb)
	}
	appendAda(w.FinalAdaW, w.FinalAdaB, 2*d)
	return gw, err
}

func (u *weightUploader) alloc(bytes int64, what string) (cu.DevicePtr, error) {
	p, err := alloc(bytes, what)
	if err == nil {
		u.gw.allocs = append(u.gw.allocs, p)
	}
	return p, err
}

func (u *weightUploader) check(t *models.Tensor, shape []int) error {
	if t == nil {
		return fmt.Errorf("a tensor of shape %v is missing", shape)
	}
	n := 1
	for _, s := range shape {
		n *= s
	}
	if t.Numel() != n || len(t.Data) != n*t.DType.Size() || t.DType.Size() == 0 {
		return fmt.Errorf("tensor %q has shape %v and dtype %q, want shape %v", t.Name, t.Shape, t.DType, shape)
	}
	return nil
}

func (u *weightUploader) tick(t *models.Tensor) {
	if !u.seen[t] {
		u.seen[t] = true
		u.done += int64(len(t.Data))
		if u.progress != nil {
			u.progress(u.done, u.total)
		}
	}
}

// matrix uploads t ([rows, cols]) as bf16 into a new allocation of padRows
// rows, the padding rows zero.
func (u *weightUploader) matrix(t *models.Tensor, rows, cols, padRows int) (cu.DevicePtr, error) {
	p, err := u.alloc(int64(padRows*cols)*2, "weights")
	if err != nil {
		return 0, err
	}
	if padRows > rows {
		if err := cu.MemsetD8(p+cu.DevicePtr(rows*cols*2), 0, int64((padRows-rows)*cols*2)); err != nil {
			return 0, fmt.Errorf("cuMemsetD8: %v", err)
		}
	}
	return p, u.copyMatrix(p, t, rows, cols)
}

func (u *weightUploader) copyMatrix(dst cu.DevicePtr, t *models.Tensor, rows, cols int) error {
	if err := u.check(t, []int{rows, cols}); err != nil {
		return err
	}
	raw := bf16Bytes(t)
	if err := cu.MemcpyHtoD(dst, unsafe.Pointer(&raw[0]), int64(len(raw))); err != nil {
		return fmt.Errorf("uploading %q: %v", t.Name, err)
	}
	u.tick(t)
	return nil
}

func (u *weightUploader) vector(t *models.Tensor, shape []int) (cu.DevicePtr, error) {
	n := 1
	for _, s := range shape {
		n *= s
	}
	p, err := u.alloc(int64(n)*4, "weights")
	if err != nil {
		return 0, err
	}
	return p, u.copyVector(p, t, shape)
}

func (u *weightUploader) copyVector(dst cu.DevicePtr, t *models.Tensor, shape []int) error {
	if err := u.check(t, shape); err != nil {
		return err
	}
	v := models.Float32s(t)
	if err := cu.MemcpyHtoD(dst, unsafe.Pointer(&v[0]), int64(len(v))*4); err != nil {
		return fmt.Errorf("uploading %q: %v", t.Name, err)
	}
	u.tick(t)
	return nil
}

// bf16Bytes returns t's elements as little-endian bf16, rounding to nearest
// even (a BF16 tensor's bytes as they are).
func bf16Bytes(t *models.Tensor) []byte {
	if t.DType == models.BF16 {
		return t.Data
	}
	v := models.Float32s(t)
	out := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(out[2*i:], toBF16(x))
	}
	return out
}

func toBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 { // NaN stays NaN
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// ready checks that weights are loaded and tokens are valid.
func (g *GPU) ready(tokens []int32) error {
	if g.th == nil {
		return errors.New("gpu backend: closed")
	}
	if g.w == nil {
		return errors.New("gpu backend: no model loaded")
	}
	if len(tokens) == 0 {
		return errors.New("gpu backend: empty token sequence")
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= g.cfg.VocabSize {
			return fmt.Errorf("gpu backend: token %d at position %d is outside the vocabulary of %d", t, i, g.cfg.VocabSize)
		}
	}
	return nil
}

// Logits runs the forward pass and returns final.linear's output [L*V].
func (g *GPU) Logits(tokens []int32, sigma float64) ([]float32, error) {
	if err := g.ready(tokens); err != nil {
		return nil, err
	}
	L, V, vpad := len(tokens), g.cfg.VocabSize, g.w.vpad
	out := make([]float32, L*V)
	err := g.th.do(func() error {
		if err := g.step(tokens, sigma); err != nil {
			return err
		}
		rowsPer := g.headChunk(L)
		rows := make([]float32, rowsPer*vpad)
		pos := make([]int32, rowsPer)
		for r0 := 0; r0 < L; r0 += rowsPer {
			n := min(rowsPer, L-r0)
			for i := range n {
				pos[i] = int32(r0 + i)
			}
			if err := g.headLogits(pos[:n]); err != nil {
				return err
			}
			if err := g.download(unsafe.Pointer(&rows[0]), g.head.logits.ptr, int64(n*vpad)*4); err != nil {
				return err
			}
			for i := range n {
				dst := out[(r0+i)*V : (r0+i+1)*V]
				for j, b := range g.w.headBiasHost {
					dst[j] = rows[i*vpad+j] + b
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, gpuError(err)
	}
	return out, nil
}

// Sample runs the forward pass and samples the head on the GPU at the masked
// query positions, in chunks of rows; a queried position whose input is not
// the mask token carries it over (SUBS), as on the CPU.
func (g *GPU) Sample(tokens []int32, sigma float64, q *HeadQuery) ([]PositionStats, error) {
	if err := g.ready(tokens); err != nil {
		return nil, err
	}
	if err := q.Validate(len(tokens)); err != nil {
		return nil, fmt.Errorf("gpu backend: %v", err)
	}
	cfg := g.cfg
	stats, masked := q.carryOver(tokens, int32(cfg.MaskTokenID))
	err := g.th.do(func() error {
		if err := g.step(tokens, sigma); err != nil {
			return err
		}
		if len(masked) == 0 {
			return nil
		}
		rowsPer := g.headChunk(len(masked))
		pos := make([]int32, rowsPer)
		uni := make([]float32, rowsPer)
		res := make([]int32, rowsPer*headOutWords)
		for b0 := 0; b0 < len(masked); b0 += rowsPer {
			block := masked[b0:min(b0+rowsPer, len(masked))]
			n := len(block)
			for r, i := range block {
				pos[r] = q.Positions[i]
				uni[r] = 0
				if len(q.Uniform) > 0 {
					uni[r] = q.Uniform[i]
				}
			}
			if err := g.headLogits(pos[:n]); err != nil {
				return err
			}
			if err := g.upload(g.head.uniforms.ptr, unsafe.Pointer(&uni[0]), int64(n)*4); err != nil {
				return err
			}
			if err := g.launch("sample_head", n, 1, headThreads, 0, g.head.logits.ptr, g.w.vpad, g.w.headBias,
				cfg.VocabSize, cfg.MaskTokenID, q.Temperature, q.TopK, q.TopP, q.TopN, g.head.uniforms.ptr, g.head.out.ptr); err != nil {
				return err
			}
			if err := g.download(unsafe.Pointer(&res[0]), g.head.out.ptr, int64(n*headOutWords)*4); err != nil {
				return err
			}
			for r, i := range block {
				st, err := decodeHeadRow(res[r*headOutWords:(r+1)*headOutWords], q.TopN)
				if err != nil {
					return fmt.Errorf("gpu backend: position %d: %v", q.Positions[i], err)
				}
				st.Pos = q.Positions[i]
				stats[i] = st
			}
		}
		return nil
	})
	if err != nil {
		return nil, gpuError(err)
	}
	return stats, nil
}

// decodeHeadRow reads one row of sample_head's output (kernels/head.cu).
func decodeHeadRow(w []int32, topN int) (PositionStats, error) {
	f := func(i int) float32 { return math.Float32frombits(uint32(w[i])) }
	switch tok := w[0]; {
	case tok == -1:
		return PositionStats{}, errors.New("no token has a finite logit")
	case tok <= -2:
		return PositionStats{}, fmt.Errorf("logit of token %d is NaN or +Inf", -2-tok)
	}
	st := PositionStats{Token: w[0], Prob: f(1), Margin: f(2), Entropy: f(3)}
	for k := 0; k < min(topN, MaxTopN); k++ {
		if w[4+k] < 0 {
			break
		}
		st.Top = append(st.Top, Candidate{Token: w[4+k], Prob: f(12 + k)})
	}
	return st, nil
}

// gpuError makes sure every error names the GPU backend once.
func gpuError(err error) error {
	if strings.HasPrefix(err.Error(), "gpu backend") {
		return err
	}
	return fmt.Errorf("gpu backend: %v", err)
}

func (g *GPU) upload(dst cu.DevicePtr, src unsafe.Pointer, bytes int64) error {
	if err := cu.MemcpyHtoDAsync(dst, src, bytes, g.stream); err != nil {
		return fmt.Errorf("copy to device: %v", err)
	}
	return nil
}

// download copies device memory to the host after everything queued on the
// stream; any error of the work queued before surfaces here.
func (g *GPU) download(dst unsafe.Pointer, src cu.DevicePtr, bytes int64) error {
	if err := cu.MemcpyDtoHAsync(dst, src, bytes, g.stream); err != nil {
		return fmt.Errorf("copy from device: %v", err)
	}
	if err := g.stream.Synchronize(); err != nil {
		return fmt.Errorf("running the forward pass: %v", err)
	}
	return nil
}

// launch starts a kernel on the backend's stream with a 1- or 2-D grid.
func (g *GPU) launch(name string, gx, gy, block, shmem int, args ...any) error {
	fn, ok := g.fns[name]
	if !ok {
		return fmt.Errorf("kernel %q not loaded", name)
	}
	return g.profiled(name, func() error {
		if err := fn.Launch(gx, gy, 1, block, 1, 1, shmem, g.stream, kernelArgs(args...)); err != nil {
			return fmt.Errorf("launching %s (grid %dx%d, block %d): %v", name, gx, gy, block, err)
		}
		return nil
	})
}

// linear is blas.linear on device pointers, profiled under name.
func (g *GPU) linear(name string, out cu.DevicePtr, outType, ldo int, x cu.DevicePtr, ldx int, w cu.DevicePtr, M, N, K int, beta float32) error {
	return g.profiled(name, func() error {
		return g.blas.linear(uint64(out), outType, ldo, uint64(x), ldx, uint64(w), M, N, K, beta)
	})
}

// rowGrid is the grid of a rows x cols kernel whose blocks of 256 threads
// stride over columns (x) and rows (y): enough blocks to fill the device,
// never more than the rows.
func (g *GPU) rowGrid(rows, cols int) (gx, gy int) {
	gx = max(1, min((cols+255)/256, 64))
	gy = max(1, min(rows, g.sms*16/gx, 65535))
	return gx, gy
}

// launchProfile times every launch with CUDA events while set (the bench's
// per-kernel breakdown); the forward pass then runs eagerly.
type launchProfile struct {
	marks []profileMark
}

type profileMark struct {
	name       string
	start, end cu.Event
}

func (g *GPU) profiled(name string, enqueue func() error) error {
	if g.prof == nil {
		return enqueue()
	}
	start, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return fmt.Errorf("cuEventCreate: %v", err)
	}
	end, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return fmt.Errorf("cuEventCreate: %v", err)
	}
	g.prof.marks = append(g.prof.marks, profileMark{name, start, end})
	if err := start.Record(g.stream); err != nil {
		return fmt.Errorf("cuEventRecord: %v", err)
	}
	if err := enqueue(); err != nil {
		return err
	}
	if err := end.Record(g.stream); err != nil {
		return fmt.Errorf("cuEventRecord: %v", err)
	}
	return nil
}

// ProfileSample runs Sample once with every launch timed and returns the
// device milliseconds per kernel (GEMMs named "gemm <layer>").
func (g *GPU) ProfileSample(tokens []int32, sigma float64, q *HeadQuery) (map[string]float64, error) {
	g.prof = &launchProfile{}
	defer func() { g.prof = nil }()
	if _, err := g.Sample(tokens, sigma, q); err != nil {
		return nil, err
	}
	times := map[string]float64{}
	err := g.th.do(func() error {
		if err := g.stream.Synchronize(); err != nil {
			return err
		}
		for _, m := range g.prof.marks {
			ms, err := m.start.Elapsed(m.end)
			if err != nil {
				return fmt.Errorf("cuEventElapsedTime: %v", err)
			}
			times[m.name] += ms
			cu.DestroyEvent(&m.start)
			cu.DestroyEvent(&m.end)
		}
		return nil
	})
	return times, err
}
