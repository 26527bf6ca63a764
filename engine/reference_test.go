package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"diffuapriel/models"
)

// This file is an independent float64 implementation of MODEL.md §2 in its
// SEQUENTIAL form: its own loops (nothing from package kernels), the
// reverse Mamba direction computed by literally flipping the sequence, and
// the SSD as the per-step recurrence. The CPU backend must match it.

type mat [][]float64 // [rows][cols]

func newMat(rows, cols int) mat {
	m := make(mat, rows)
	for i := range m {
		m[i] = make([]float64, cols)
	}
	return m
}

func f64(t *models.Tensor) []float64 {
	src := models.Float32s(t)
	out := make([]float64, len(src))
	for i, v := range src {
		out[i] = float64(v)
	}
	return out
}

// refLinear is x·Wᵀ + b with W stored [out, in]; b may be nil.
func refLinear(x mat, w *models.Tensor, b *models.Tensor) mat {
	W := f64(w)
	out, in := w.Shape[0], w.Shape[1]
	var bias []float64
	if b != nil {
		bias = f64(b)
	}
	y := newMat(len(x), out)
	for t := range x {
		for o := range out {
			s := 0.0
			if bias != nil {
				s = bias[o]
			}
			for i := range in {
				s += x[t][i] * W[o*in+i]
			}
			y[t][o] = s
		}
	}
	return y
}

func refSiLU(x float64) float64 { return x / (1 + math.Exp(-x)) }

func refLayerNormModulate(x mat, w *models.Tensor, eps float64, shift, scale []float64) mat {
	W := f64(w)
	out := newMat(len(x), len(W))
	for t, row := range x {
		mean, v := 0.0, 0.0
		for _, e := range row {
			mean += e
		}
		mean /= float64(len(row))
		for _, e := range row {
			v += (e - mean) * (e - mean)
		}
		v /= float64(len(row))
		for c, e := range row {
			out[t][c] = (e-mean)/math.Sqrt(v+eps)*W[c]*(1+scale[c]) + shift[c]
		}
	}
	return out
}

func flipSeq(x mat) mat {
	out := make(mat, len(x))
	for t := range x {
		out[t] = x[len(x)-1-t]
	}
	return out
}

// refMamba2 is one standard (causal) Mamba-2 layer over the sequence a.
func refMamba2(cfg *models.Config, m *models.MambaWeights, a mat) mat {
	L := len(a)
	di, nh, P, N, G, K := cfg.DInner(), cfg.MambaHeads(), cfg.Mamba.HeadDim, cfg.Mamba.DState, cfg.Mamba.NGroups, cfg.Mamba.DConv
	cv := cfg.ConvDim()
	zxbcdt := refLinear(a, m.InProj, nil)
	convW, convB := f64(m.ConvW), f64(m.ConvB)
	xbc := newMat(L, cv)
	for t := range L {
		for c := range cv {
			s := convB[c]
			for k := range K {
				if src := t - (K - 1) + k; src >= 0 {
					s += convW[c*K+k] * zxbcdt[src][di+c]
				}
			}
			xbc[t][c] = refSiLU(s)
		}
	}
	dtBias, aLog, skip := f64(m.DtBias), f64(m.ALog), f64(m.D)
	y := newMat(L, di)
	for h := range nh {
		g := h / (nh / G)
		A := -math.Exp(aLog[h])
		S := newMat(P, N)
		for t := range L {
			dt := math.Log1p(math.Exp(zxbcdt[t][di+cv+h] + dtBias[h]))
			decay := math.Exp(dt * A)
			for p := range P {
				x := xbc[t][h*P+p]
				acc := 0.0
				for n := range N {
					B := xbc[t][di+g*N+n]
					C := xbc[t][di+G*N+g*N+n]
					S[p][n] = decay*S[p][n] + dt*x*B
					acc += S[p][n] * C
				}
				y[t][h*P+p] = acc + skip[h]*x
			}
		}
	}
	norm := f64(m.Norm)
	gs := di / G
	for t := range L {
		for g0 := 0; g0 < di; g0 += gs {
			ms := 0.0
			for c := g0; c < g0+gs; c++ {
				y[t][c] *= refSiLU(zxbcdt[t][c])
				ms += y[t][c] * y[t][c]
			}
			inv := 1 / math.Sqrt(ms/float64(gs)+cfg.NormEps)
			for c := g0; c < g0+gs; c++ {
				y[t][c] *= inv * norm[c]
			}
		}
	}
	return refLinear(y, m.OutProj, nil)
}

func refAttention(cfg *models.Config, aw *models.AttentionWeights, a mat) mat {
	L, d, nh, hd := len(a), cfg.DModel, cfg.Attention.NHeads, cfg.AttnHeadDim()
	qkv := refLinear(a, aw.QKV, nil)
	rope := func(t, col int) { // rotates one head starting at column col
		for j := range hd / 2 {
			angle := float64(t) * math.Pow(cfg.Attention.RopeTheta, -2*float64(j)/float64(hd))
			x1, x2 := qkv[t][col+j], qkv[t][col+j+hd/2]
			qkv[t][col+j] = x1*math.Cos(angle) - x2*math.Sin(angle)
			qkv[t][col+j+hd/2] = x2*math.Cos(angle) + x1*math.Sin(angle)
		}
	}
	for t := range L {
		for h := range nh {
			rope(t, h*hd)
			rope(t, d+h*hd)
		}
	}
	out := newMat(L, d)
	for h := range nh {
		for i := range L {
			scores := make([]float64, L)
			mx := math.Inf(-1)
			for j := range L {
				for e := range hd {
					scores[j] += qkv[i][h*hd+e] * qkv[j][d+h*hd+e]
				}
				scores[j] /= math.Sqrt(float64(hd))
				mx = math.Max(mx, scores[j])
			}
			z := 0.0
			for j := range scores {
				scores[j] = math.Exp(scores[j] - mx)
				z += scores[j]
			}
			for j := range L {
				for e := range hd {
					out[i][h*hd+e] += scores[j] / z * qkv[j][2*d+h*hd+e]
				}
			}
		}
	}
	return refLinear(out, aw.OutProj, nil)
}

// refLogits is final.linear's output [L][V] for tokens at noise level sigma.
func refLogits(w *models.Weights, tokens []int32, sigma float64) mat {
	cfg := w.Config
	d := cfg.DModel
	embed := f64(w.VocabEmbed)
	h := newMat(len(tokens), d)
	for t, tok := range tokens {
		copy(h[t], embed[int(tok)*d:(int(tok)+1)*d])
	}
	if !cfg.TimeConditioning {
		sigma = 0
	}
	feat := newMat(1, 256)
	for k := range 128 {
		f := math.Exp(-math.Log(10000) * float64(k) / 128)
		feat[0][k], feat[0][128+k] = math.Cos(sigma*f), math.Sin(sigma*f)
	}
	c := refLinear(feat, w.SigmaW1, w.SigmaB1)
	for i := range c[0] {
		c[0][i] = refSiLU(c[0][i])
	}
	c = refLinear(c, w.SigmaW2, w.SigmaB2)
	for i := range c[0] {
		c[0][i] = refSiLU(c[0][i])
	}
	gelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	addGated := func(gate []float64, y mat) {
		for t := range h {
			for j := range d {
				h[t][j] += gate[j] * y[t][j]
			}
		}
	}
	for _, b := range w.Blocks {
		mod := refLinear(c, b.AdaW, b.AdaB)[0]
		sh1, sc1, g1 := mod[0:d], mod[d:2*d], mod[2*d:3*d]
		sh2, sc2, g2 := mod[3*d:4*d], mod[4*d:5*d], mod[5*d:6*d]
		a := refLayerNormModulate(h, b.Norm1, cfg.NormEps, sh1, sc1)
		var mix mat
		if b.Kind == models.LayerAttention {
			mix = refAttention(cfg, b.Attention, a)
		} else {
			mix = refMamba2(cfg, b.Mamba[0], a)
			rev := flipSeq(refMamba2(cfg, b.Mamba[1], flipSeq(a)))
			for t := range mix {
				for j := range mix[t] {
					mix[t][j] += rev[t][j]
				}
			}
		}
		addGated(g1, mix)
		hid := refLinear(refLayerNormModulate(h, b.Norm2, cfg.NormEps, sh2, sc2), b.FC1W, b.FC1B)
		for t := range hid {
			for j := range hid[t] {
				hid[t][j] = gelu(hid[t][j])
			}
		}
		addGated(g2, refLinear(hid, b.FC2W, b.FC2B))
	}
	mod := refLinear(c, w.FinalAdaW, w.FinalAdaB)[0]
	return refLinear(refLayerNormModulate(h, w.FinalNorm, cfg.NormEps, mod[0:d], mod[d:2*d]), w.Head, w.HeadBias)
}

// testTokens are L tokens, about a third of them the mask.
func testTokens(cfg *models.Config, L int, seed uint64) []int32 {
	r := rand.New(rand.NewPCG(seed, 99))
	tokens := make([]int32, L)
	for i := range tokens {
		if r.IntN(3) == 0 {
			tokens[i] = int32(cfg.MaskTokenID)
		} else {
			tokens[i] = int32(r.IntN(models.GPT2Vocab))
		}
	}
	tokens[0] = int32(cfg.MaskTokenID)
	return tokens
}

// maxRelErr is max|got−want| / max|want| over all logits.
func maxRelErr(got []float32, want mat) float64 {
	var num, den float64
	V := len(want[0])
	for t := range want {
		for v, x := range want[t] {
			num = math.Max(num, math.Abs(float64(got[t*V+v])-x))
			den = math.Max(den, math.Abs(x))
		}
	}
	return num / den
}

func TestCPUMatchesFloat64Reference(t *testing.T) {
	for _, backbone := range []string{models.BackboneMamba, models.BackboneHybrid, models.BackboneTransformer} {
		t.Run(backbone, func(t *testing.T) {
			cfg, err := models.Preset("tiny", backbone)
			if err != nil {
				t.Fatal(err)
			}
			w := models.RandomInit(cfg, 7)
			// The same weights without time conditioning: sigma must be ignored.
			noTime := *cfg
			noTime.TimeConditioning = false
			wNoTime := *w
			wNoTime.Config = &noTime
			type refCase struct {
				name   string
				w      *models.Weights
				sigma  float64
				tokens []int32
			}
			cases := []refCase{
				{"L 23, sigma 0.5", w, 0.5, testTokens(cfg, 23, 1)},
				{"L 23, sigma 3, time conditioning off", &wNoTime, 3, testTokens(cfg, 23, 1)},
			}
			if backbone == models.BackboneMamba {
				// Longer than the CPU scan's block, so state crosses blocks.
				cases = append(cases, refCase{"L 150, sigma 1", w, 1, testTokens(cfg, 150, 2)})
			}
			for _, c := range cases {
				tokens := c.tokens
				cpu := NewCPU(0)
				if err := cpu.Load(c.w, nil); err != nil {
					t.Fatal(err)
				}
				got, err := cpu.Logits(tokens, c.sigma)
				if err != nil {
					t.Fatal(err)
				}
				want := refLogits(c.w, tokens, c.sigma)
				if e := maxRelErr(got, want); e > 1e-4 {
					t.Errorf("%s: relative error %.3g vs the float64 reference", c.name, e)
				} else {
					t.Logf("%s: relative error %.3g", c.name, e)
				}
			}
		})
	}
}
