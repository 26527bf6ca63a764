package models

import (
	"math"
	"testing"
)

// Hand-computed binary16 and bfloat16 values, subnormals included.
func TestHalfDecodeKnownValues(t *testing.T) {
	f16 := []struct {
		bits uint16
		want float64
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3800, 0.5}, {0x3555, 0.333251953125},
		{0x7bff, 65504},              // largest finite
		{0x0400, math.Ldexp(1, -14)}, // smallest normal
		{0x0001, math.Ldexp(1, -24)}, // smallest subnormal
		{0x03ff, 1023 * math.Ldexp(1, -24)},
		{0x8001, -math.Ldexp(1, -24)},
		{0x7c00, math.Inf(1)}, {0xfc00, math.Inf(-1)},
	}
	for _, c := range f16 {
		if got := f16ToF32(c.bits); float64(got) != c.want {
			t.Errorf("f16 %#04x = %g, want %g", c.bits, got, c.want)
		}
	}
	if got := f16ToF32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("f16 0x8000 = %g, want -0", got)
	}
	if !math.IsNaN(float64(f16ToF32(0x7e00))) {
		t.Error("f16 0x7e00 is not NaN")
	}
	bf16 := []struct {
		bits uint16
		want float64
	}{
		{0x3f80, 1}, {0xc000, -2}, {0x4049, 3.140625}, {0x3e80, 0.25},
		{0x7f7f, 3.3895313892515355e38}, // largest finite
		{0x0080, math.Ldexp(1, -126)},   // smallest normal
		{0x0001, math.Ldexp(1, -133)},   // smallest subnormal
		{0x7f80, math.Inf(1)},
	}
	for _, c := range bf16 {
		if got := bf16ToF32(c.bits); float64(got) != c.want {
			t.Errorf("bf16 %#04x = %g, want %g", c.bits, got, c.want)
		}
	}
}

// Rounding to nearest, ties to even, overflow to Inf, underflow through the
// subnormals to zero, worked out by hand.
func TestHalfEncodeRounding(t *testing.T) {
	f16 := []struct {
		in   float64
		want uint16
	}{
		{1, 0x3c00},
		{1 + math.Ldexp(1, -11), 0x3c00},   // tie between 0x3c00 and 0x3c01: even
		{1 + 3*math.Ldexp(1, -11), 0x3c02}, // tie between 0x3c01 and 0x3c02: even
		{1 + math.Ldexp(1, -11) + math.Ldexp(1, -20), 0x3c01},
		{65504, 0x7bff},
		{65519, 0x7bff}, // below the midpoint to the next (virtual) step
		{65520, 0x7c00}, // the midpoint rounds to even, which is Inf
		{1e6, 0x7c00}, {-1e6, 0xfc00},
		{math.Ldexp(1, -14), 0x0400},
		{math.Ldexp(1, -24), 0x0001},
		{math.Ldexp(1, -25), 0x0000},      // half the smallest subnormal: tie to even 0
		{math.Ldexp(1.5, -25), 0x0001},    // above the tie
		{math.Ldexp(3, -25), 0x0002},      // 1.5 ulp: tie to even 2
		{math.Ldexp(1023.5, -24), 0x0400}, // tie at the top of the subnormals rounds into the normals
		{math.Ldexp(1, -30), 0x0000}, {-math.Ldexp(1, -30), 0x8000},
		{0.333333333, 0x3555},
	}
	for _, c := range f16 {
		if got := f32ToF16(float32(c.in)); got != c.want {
			t.Errorf("f32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if got := f32ToF16(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("NaN encodes as %#04x", got)
	}
	bf16 := []struct {
		in   float64
		want uint16
	}{
		{1, 0x3f80},
		{1 + math.Ldexp(1, -8), 0x3f80},   // tie: even
		{1 + 3*math.Ldexp(1, -8), 0x3f82}, // tie: even
		{1 + math.Ldexp(1, -8) + math.Ldexp(1, -20), 0x3f81},
		{math.Pi, 0x4049},
		{3.4e38, 0x7f80}, // rounds past the largest finite
	}
	for _, c := range bf16 {
		if got := f32ToBF16(float32(c.in)); got != c.want {
			t.Errorf("f32ToBF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if got := f32ToBF16(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("NaN encodes as bf16 %#04x", got)
	}
}

// Every non-NaN half value survives decode then encode, bit for bit.
func TestHalfRoundTripExhaustive(t *testing.T) {
	for b := range 1 << 16 {
		h := uint16(b)
		if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
			if got := f32ToF16(f16ToF32(h)); got != h {
				t.Fatalf("f16 %#04x -> %g -> %#04x", h, f16ToF32(h), got)
			}
		}
		if h&0x7f80 != 0x7f80 || h&0x7f == 0 {
			if got := f32ToBF16(bf16ToF32(h)); got != h {
				t.Fatalf("bf16 %#04x -> %g -> %#04x", h, bf16ToF32(h), got)
			}
		}
	}
}

// Float32s(NewTensor(x)) returns x exactly for F32 and the rounded values
// otherwise; unaligned F32 data is copied, not viewed.
func TestNewTensorFloat32s(t *testing.T) {
	vals := []float32{1, -2.5, 0.1, 65504, 1e-7, 3.14159}
	for _, dtype := range allDTypes {
		tensor := NewTensor("x", []int{2, 3}, vals, dtype)
		if len(tensor.Data) != 6*dtype.Size() || tensor.Shape[0] != 2 {
			t.Fatalf("%s: %d bytes shape %v", dtype, len(tensor.Data), tensor.Shape)
		}
		got := Float32s(tensor)
		for i, v := range vals {
			var want float32
			switch dtype {
			case F32:
				want = v
			case F16:
				want = f16ToF32(f32ToF16(v))
			case BF16:
				want = bf16ToF32(f32ToBF16(v))
			}
			if got[i] != want {
				t.Errorf("%s element %d: %g, want %g", dtype, i, got[i], want)
			}
		}
	}
	tensor := NewTensor("x", []int{6}, vals, F32)
	buf := make([]byte, 1+len(tensor.Data)) // allocations are aligned, so buf[1:] is not
	copy(buf[1:], tensor.Data)
	got := Float32s(&Tensor{Name: "u", DType: F32, Shape: []int{6}, Data: buf[1:]})
	for i := range got {
		if got[i] != vals[i] {
			t.Fatalf("unaligned element %d: %g, want %g", i, got[i], vals[i])
		}
	}
}

func TestNonFiniteNamesTensor(t *testing.T) {
	clean := NewTensor("clean", []int{3}, []float32{1, 2, 3}, BF16)
	for _, c := range []struct {
		dtype DType
		value float32
		kind  string
	}{
		{F32, float32(math.NaN()), "NaN"}, {F16, float32(math.Inf(1)), "+Inf"}, {BF16, float32(math.Inf(-1)), "-Inf"},
		{F16, 70000, "+Inf"}, // overflows in conversion
	} {
		bad := NewTensor("blocks.0.bad", []int{4}, []float32{0, 1, c.value, 2}, c.dtype)
		wantError(t, checkFinite([]*Tensor{clean, bad}), `"blocks.0.bad"`, "element 2", c.kind)
	}
	if err := checkFinite([]*Tensor{clean}); err != nil {
		t.Fatal(err)
	}
}
