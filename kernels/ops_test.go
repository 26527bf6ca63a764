package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestScalarActivations(t *testing.T) {
	// Values from the closed forms, computed in float64 by hand/calculator.
	cases := []struct {
		name string
		f    func(float32) float32
		x    float32
		want float64
	}{
		{"SiLU(1) = 1/(1+e^-1)", SiLU, 1, 0.7310585786},
		{"SiLU(0)", SiLU, 0, 0},
		{"GELUTanh(1)", GELUTanh, 1, 0.8411919906},
		{"GELUTanh(-1)", GELUTanh, -1, -0.1588080094},
		{"GELUTanh(2)", GELUTanh, 2, 1.9545976941},
		{"Softplus(0) = ln 2", Softplus, 0, 0.6931471806},
		{"Softplus(1) = ln(1+e)", Softplus, 1, 1.3132616875},
		{"Softplus(-1)", Softplus, -1, 0.3132616875},
		{"Softplus(30) = 30 (threshold)", Softplus, 30, 30},
	}
	for _, c := range cases {
		if got := c.f(c.x); math.Abs(float64(got)-c.want) > 1e-6 {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLayerNormAndModulate(t *testing.T) {
	// Row 0: x = 1..4, mean 2.5, var 1.25; eps 0.75 makes var+eps = 2, so
	// x̂ = (x−2.5)/√2 = [−1.06066, −0.35355, 0.35355, 1.06066], times weight.
	// Row 1 is constant: x̂ = 0.
	x := []float32{1, 2, 3, 4, 2, 2, 2, 2}
	w := []float32{1, 1, 2, 0.5}
	out := make([]float32, 8)
	LayerNorm(out, x, 2, 4, w, 0.75)
	assertClose(t, "LayerNorm", out, []float32{-1.0606602, -0.3535534, 0.7071068, 0.5303301, 0, 0, 0, 0}, 1e-6)

	// Modulate: x·(1+scale)+shift; [1,2] with scale [0.5,−1], shift [1,2] → [2.5, 2].
	m := []float32{1, 2, 0, 0}
	Modulate(m, 2, 2, []float32{1, 2}, []float32{0.5, -1})
	assertClose(t, "Modulate", m, []float32{2.5, 2, 1, 2}, 0)
}

func TestGatedRMSNormTwoGroups(t *testing.T) {
	// dInner 4, 2 groups of 2. Row 0: z is constant within each group, so
	// the gate only scales each group and RMSNorm (eps≈0) removes it except
	// for its sign: group 0 (z=1, SiLU>0): [1,2]/√2.5 = [0.632456, 1.264911];
	// group 1 (z=−2, SiLU<0): −[3,4]/√12.5 = [−0.848528, −1.131371].
	// Times w = [1, 2, 0.5, −1].
	// Row 1: y = 1, z = 1, eps = 1 is not negligible there: g = SiLU(1) = s
	// in every channel, out = s/√(s²+1) = 0.590169 (times w).
	y := []float32{1, 2, 3, 4, 1, 1, 1, 1}
	// z rows have stride 5 (an extra column that must be ignored).
	z := []float32{1, 1, -2, -2, 99, 1, 1, 1, 1, 99}
	w := []float32{1, 2, 0.5, -1}
	out := make([]float32, 8)
	GatedRMSNorm(out[:4], y[:4], z[:5], 5, w, 1, 4, 2, 1e-12)
	GatedRMSNorm(out[4:], y[4:], z[5:], 5, w, 1, 4, 2, 1)
	assertClose(t, "GatedRMSNorm", out, []float32{
		0.6324555, 2.5298221, -0.4242641, 1.1313709,
		0.5901688, 1.1803377, 0.2950844, -0.5901688}, 1e-6)
}

func TestCausalConv1dSiLUBothDirections(t *testing.T) {
	// One channel, K = 2, w = [1, 2] (w[0] taps in[t−1], w[1] taps in[t]),
	// bias 0.5, in = [1, 2, 3], read with stride 2 (column 1 is noise).
	// Forward: 0.5+2·1 = 2.5; 0.5+1+4 = 5.5; 0.5+2+6 = 8.5.
	// Reverse (taps in[t+1] and in[t]): 0.5+2+2 = 4.5; 0.5+3+4 = 7.5; 0.5+0+6 = 6.5.
	// Then SiLU of each.
	in := []float32{1, -7, 2, -7, 3, -7}
	out := make([]float32, 3)
	CausalConv1dSiLU(out, in, 3, 1, 2, []float32{1, 2}, []float32{0.5}, 2, false)
	assertClose(t, "conv forward", out, []float32{2.3103545, 5.4776142, 8.4982709}, 1e-5)
	CausalConv1dSiLU(out, in, 3, 1, 2, []float32{1, 2}, []float32{0.5}, 2, true)
	assertClose(t, "conv reverse", out, []float32{4.4505588, 7.4958542, 6.4902423}, 1e-5)
}

func TestRoPE(t *testing.T) {
	// headDim 4, theta 100: pair (0,2) turns by t·1 rad, pair (1,3) by
	// t·100^(−1/2) = 0.1t rad. Position 0 is unchanged. Position 1, x = [1,2,3,4]:
	// x0 = cos1 − 3 sin1 = −1.984111, x2 = 3cos1 + sin1 = 2.462378,
	// x1 = 2cos.1 − 4sin.1 = 1.590675, x3 = 4cos.1 + 2sin.1 = 4.179683.
	// Rows have stride 5; the fifth column must stay untouched.
	x := []float32{1, 2, 3, 4, 9, 1, 2, 3, 4, 9}
	RoPE(x, 2, 1, 4, 5, 100)
	assertClose(t, "RoPE", x, []float32{1, 2, 3, 4, 9, -1.9841106, 1.5906747, 2.4623779, 4.1796835, 9}, 1e-6)
}

func TestAttentionTwoPositions(t *testing.T) {
	// One head of dim 2 (plus a second head holding the same numbers swapped
	// in position, to check the head layout). q = [[1,0],[0,1]],
	// k = [[1,0],[0,2]], v = [[1,2],[3,4]], scale 1/√2.
	// Row 0: scores [1/√2, 0] → p = [0.669762, 0.330238] → out [1.660477, 2.660477].
	// Row 1: scores [0, 2/√2] → p = [0.195571, 0.804429] → out [2.608859, 3.608859].
	// qkv row layout: q(h0,h1) k(h0,h1) v(h0,h1), stride 12.
	qkv := []float32{
		1, 0, 0, 1, 1, 0, 0, 2, 1, 2, 3, 4,
		0, 1, 1, 0, 0, 2, 1, 0, 3, 4, 1, 2,
	}
	out := make([]float32, 8)
	Attention(out, qkv[0:], qkv[4:], qkv[8:], 12, 2, 2, 2)
	assertClose(t, "Attention", out, []float32{
		1.6604769, 2.6604769, 2.6088594, 3.6088594,
		2.6088594, 3.6088594, 1.6604769, 2.6604769}, 1e-6)
}

func TestSigmaEmbedding(t *testing.T) {
	out := make([]float32, SigmaFeatures)
	SigmaEmbedding(out, 0)
	for k := range 128 {
		if out[k] != 1 || out[128+k] != 0 {
			t.Fatalf("sigma 0: feature %d = (%v, %v), want (1, 0)", k, out[k], out[128+k])
		}
	}
	// sigma 2: f_0 = 1 → (cos 2, sin 2); f_64 = 10000^(−1/2) = 0.01 → (cos .02, sin .02).
	SigmaEmbedding(out, 2)
	assertClose(t, "sigma f0", []float32{out[0], out[128]}, []float32{-0.4161468, 0.9092974}, 1e-6)
	assertClose(t, "sigma f64", []float32{out[64], out[192]}, []float32{0.9998, 0.0199987}, 1e-6)
}

func TestElementwiseHelpers(t *testing.T) {
	// h += gate⊙y over 2 rows of 2.
	h := []float32{1, 1, 2, 2}
	GatedResidualAdd(h, []float32{0.5, -1}, []float32{2, 3, 4, 5}, 2, 2)
	assertClose(t, "GatedResidualAdd", h, []float32{2, -2, 4, -3}, 0)
	// dt = softplus(raw + bias) with raw read at stride 3: softplus(0) = ln 2,
	// softplus(−1+2) = 1.313262.
	dt := make([]float32, 2)
	DtSoftplus(dt, []float32{0, -1, 7}, 1, 2, 3, []float32{0, 2})
	assertClose(t, "DtSoftplus", dt, []float32{0.6931472, 1.3132617}, 1e-6)
	x := []float32{1, -1}
	SiLUInPlace(x)
	assertClose(t, "SiLUInPlace", x, []float32{0.7310586, -0.2689414}, 1e-6)
	GELUTanhInPlace(x)
	assertClose(t, "GELUTanhInPlace", x, []float32{GELUTanh(0.7310586), GELUTanh(-0.2689414)}, 1e-6)
}

func TestAttentionMatchesNaive(t *testing.T) {
	// L = 70 spans three row blocks; 3 heads of 8; q, k, v inside one
	// [L, 3·24 + 5] buffer.
	r := rand.New(rand.NewPCG(13, 14))
	L, H, hd := 70, 3, 8
	D, stride := H*hd, 3*H*hd+5
	qkv := randSlice(r, L*stride, 2)
	out := make([]float32, L*D)
	Attention(out, qkv, qkv[D:], qkv[2*D:], stride, L, H, hd)
	want := make([]float32, L*D)
	for h := range H {
		for i := range L {
			s := make([]float64, L)
			mx := math.Inf(-1)
			for j := range L {
				for d := range hd {
					s[j] += float64(qkv[i*stride+h*hd+d]) * float64(qkv[j*stride+D+h*hd+d])
				}
				s[j] /= math.Sqrt(float64(hd))
				mx = max(mx, s[j])
			}
			var z float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				z += s[j]
			}
			for d := range hd {
				var acc float64
				for j := range L {
					acc += s[j] / z * float64(qkv[j*stride+2*D+h*hd+d])
				}
				want[i*D+h*hd+d] = float32(acc)
			}
		}
	}
	if e := relErr(out, want); e > 1e-5 {
		t.Fatalf("attention relative error %.3g", e)
	}
}
