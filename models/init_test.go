package models

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func savedBytes(t *testing.T, w *Weights, dtype DType) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(path, w, dtype, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The same seed gives the same bytes whatever the parallelism; another seed
// changes every tensor.
func TestRandomInitDeterministic(t *testing.T) {
	cfg, _ := Preset("tiny", BackboneHybrid)
	a := savedBytes(t, RandomInit(cfg, 42), F32)
	prev := runtime.GOMAXPROCS(1)
	b := savedBytes(t, RandomInit(cfg, 42), F32)
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different bytes")
	}
	w1, w2 := RandomInit(cfg, 42), RandomInit(cfg, 43)
	t2 := map[string]*Tensor{}
	for _, x := range w2.tensors() {
		t2[x.Name] = x
	}
	for _, x := range w1.tensors() {
		if bytes.Equal(x.Data, t2[x.Name].Data) {
			t.Errorf("tensor %q is the same under seeds 42 and 43", x.Name)
		}
	}
}

// WriteRandomInit streams exactly the file Save(RandomInit) writes.
func TestWriteRandomInitMatchesSave(t *testing.T) {
	tiny, _ := Preset("tiny", BackboneMamba)
	cases := []struct {
		cfg   *Config
		dtype DType
	}{
		{tiny, BF16},
		{microConfig(t, BackboneHybrid), F32},
		{microConfig(t, BackboneTransformer), F16},
	}
	for _, c := range cases {
		want := savedBytes(t, RandomInit(c.cfg, 11), c.dtype)
		path := filepath.Join(t.TempDir(), "init.safetensors")
		if err := WriteRandomInit(path, c.cfg, 11, c.dtype, false); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, want) {
			t.Errorf("%s %s: WriteRandomInit differs from Save(RandomInit)", c.cfg.Name, c.dtype)
		}
		wantError(t, WriteRandomInit(path, c.cfg, 11, c.dtype, false), "already exists (pass --force to overwrite")
	}
}

// moments returns the mean and standard deviation of a tensor.
func moments(x []float32) (mean, std float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

// Every tensor follows its initialisation rule: no constant (e.g. zero)
// tensor, norms and D around 1, A and dt in mamba_ssm's ranges, linear
// weights at 1/sqrt(fan_in) scale.
func TestRandomInitScales(t *testing.T) {
	cfg, _ := Preset("tiny", BackboneHybrid)
	w := RandomInit(cfg, 5)
	for _, x := range w.tensors() {
		vals := Float32s(x)
		mean, std := moments(vals)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		if std == 0 {
			t.Errorf("tensor %q is constant", x.Name)
		}
		name := x.Name
		switch {
		case strings.HasSuffix(name, ".A_log"):
			if lo < 0 || hi > math.Log(16) {
				t.Errorf("%q: A_log in [%g, %g], want within [0, ln 16]", name, lo, hi)
			}
		case strings.HasSuffix(name, ".dt_bias"):
			for _, v := range vals {
				if dt := math.Log1p(math.Exp(float64(v))); dt < 1e-3*0.999 || dt > 1e-1*1.001 {
					t.Errorf("%q: softplus(dt_bias) = %g outside [1e-3, 1e-1]", name, dt)
				}
			}
		case strings.HasSuffix(name, ".D"), strings.HasSuffix(name, "norm.weight"), strings.HasSuffix(name, "norm1.weight"), strings.HasSuffix(name, "norm2.weight"):
			if math.Abs(mean-1) > 0.1 || std < 0.05 || std > 0.2 {
				t.Errorf("%q: mean %g std %g, want about 1 and 0.1", name, mean, std)
			}
		case strings.HasSuffix(name, ".bias"):
			if len(vals) >= 64 && (std < 0.05 || std > 0.2) {
				t.Errorf("%q: bias std %g, want about %g", name, std, biasStd)
			}
		case len(x.Shape) == 2 && len(vals) >= 4096:
			want := ruleFor(cfg, TensorSpec{x.Name, x.Shape}).std
			fanIn := float64(x.Shape[1])
			if math.Abs(std-want)/want > 0.1 || want > 2.5/math.Sqrt(fanIn) || want < 0.1/math.Sqrt(fanIn) {
				t.Errorf("%q: std %g, rule %g, fan_in %g", name, std, want, fanIn)
			}
		}
	}
}

func TestWriteRandomInitRejects(t *testing.T) {
	cfg := microConfig(t, BackboneMamba)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	wantError(t, WriteRandomInit(path, cfg, 1, "F8", false), `unknown dtype "F8"`)
	cfg.Mamba.HeadDim = 5
	wantError(t, WriteRandomInit(path, cfg, 1, F32, false), "mamba.headdim")
	if fileExists(path) {
		t.Fatal("a rejected init created the file")
	}
}

// BenchmarkRandomInit reports how long a fresh tiny model takes (the
// playground does this at start-up when no checkpoint is given).
func BenchmarkRandomInitTiny(b *testing.B) {
	cfg, _ := Preset("tiny", BackboneMamba)
	for b.Loop() {
		RandomInit(cfg, 1)
	}
}
