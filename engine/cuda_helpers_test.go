//go:build cuda

package engine

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"diffuapriel/models"

	"gorgonia.org/cu"
)

// One GPU backend serves every test: opening it JIT-compiles the kernels.
var (
	sharedGPU     *GPU
	sharedGPUErr  error
	sharedGPUOnce sync.Once
)

func testGPU(t *testing.T) *GPU {
	t.Helper()
	sharedGPUOnce.Do(func() {
		b, err := newGPU()
		if err == nil {
			sharedGPU = b.(*GPU)
		}
		sharedGPUErr = err
	})
	if sharedGPUErr != nil {
		t.Fatalf("opening the GPU: %v", sharedGPUErr)
	}
	return sharedGPU
}

// gpuTest runs device operations for one test on the backend's CUDA thread
// and frees what it allocated when the test ends.
type gpuTest struct {
	t      *testing.T
	g      *GPU
	allocs []cu.DevicePtr
}

func newGPUTest(t *testing.T) *gpuTest {
	x := &gpuTest{t: t, g: testGPU(t)}
	t.Cleanup(func() {
		x.g.th.do(func() error {
			for _, p := range x.allocs {
				cu.MemFree(p)
			}
			return nil
		})
	})
	return x
}

func (x *gpuTest) run(f func() error) {
	x.t.Helper()
	if err := x.g.th.do(f); err != nil {
		x.t.Fatal(err)
	}
}

func (x *gpuTest) alloc(bytes int) cu.DevicePtr {
	x.t.Helper()
	var p cu.DevicePtr
	x.run(func() (err error) {
		p, err = alloc(int64(bytes), "test buffer")
		return err
	})
	x.allocs = append(x.allocs, p)
	return p
}

func (x *gpuTest) put(p cu.DevicePtr, src unsafe.Pointer, bytes int) {
	x.t.Helper()
	x.run(func() error { return cu.MemcpyHtoD(p, src, int64(bytes)) })
}

// f32 uploads v as float32; bf16 uploads v rounded to bf16.
func (x *gpuTest) f32(v []float32) cu.DevicePtr {
	p := x.alloc(4 * len(v))
	x.put(p, unsafe.Pointer(&v[0]), 4*len(v))
	return p
}

func (x *gpuTest) bf16(v []float32) cu.DevicePtr {
	h := make([]uint16, len(v))
	for i, f := range v {
		h[i] = toBF16(f)
	}
	p := x.alloc(2 * len(v))
	x.put(p, unsafe.Pointer(&h[0]), 2*len(h))
	return p
}

func (x *gpuTest) i32(v []int32) cu.DevicePtr {
	p := x.alloc(4 * len(v))
	x.put(p, unsafe.Pointer(&v[0]), 4*len(v))
	return p
}

// poisonF32 and poisonBF16 allocate outputs filled with NaN, so an element
// a kernel fails to write shows up as NaN in the comparison.
func (x *gpuTest) poisonF32(n int) cu.DevicePtr {
	p := x.alloc(4 * n)
	x.run(func() error { return cu.MemsetD32(p, 0x7fc00000, int64(n)) })
	return p
}

func (x *gpuTest) poisonBF16(n int) cu.DevicePtr {
	p := x.alloc(2 * n)
	x.run(func() error { return cu.MemsetD16(p, 0x7fc0, int64(n)) })
	return p
}

func (x *gpuTest) launch(name string, gx, gy, block, shmem int, args ...any) {
	x.t.Helper()
	x.run(func() error { return x.g.launch(name, gx, gy, block, shmem, args...) })
}

func (x *gpuTest) readF32(p cu.DevicePtr, n int) []float32 {
	x.t.Helper()
	out := make([]float32, n)
	x.run(func() error { return x.g.download(unsafe.Pointer(&out[0]), p, int64(4*n)) })
	return out
}

func (x *gpuTest) readBF16(p cu.DevicePtr, n int) []float32 {
	x.t.Helper()
	h := make([]uint16, n)
	x.run(func() error { return x.g.download(unsafe.Pointer(&h[0]), p, int64(2*n)) })
	out := make([]float32, n)
	for i, b := range h {
		out[i] = math.Float32frombits(uint32(b) << 16)
	}
	return out
}

func (x *gpuTest) readI32(p cu.DevicePtr, n int) []int32 {
	x.t.Helper()
	out := make([]int32, n)
	x.run(func() error { return x.g.download(unsafe.Pointer(&out[0]), p, int64(4*n)) })
	return out
}

// randn returns n normal values times scale plus offset.
func randn(rng *rand.Rand, n int, scale, offset float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())*scale + offset
	}
	return v
}

// roundBF16 returns v rounded to bf16, the values the GPU sees.
func roundBF16(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = math.Float32frombits(uint32(toBF16(f)) << 16)
	}
	return out
}

// relErr is ‖got − want‖ / ‖want‖; NaN anywhere in got gives +Inf.
func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		if math.IsNaN(float64(got[i])) {
			return math.Inf(1)
		}
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if e := relErr(got, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.3g", what, e, tol)
	} else {
		t.Logf("%s: relative error %.3g", what, e)
	}
}

// bf16Weights re-encodes every tensor of w as BF16, so the CPU engine and
// the GPU (which stores bf16) compute with identical weights.
func bf16Weights(t *testing.T, w *models.Weights) *models.Weights {
	t.Helper()
	byName := map[string]*models.Tensor{}
	forEachTensor(w, func(x *models.Tensor) {
		if x != nil {
			byName[x.Name] = models.NewTensor(x.Name, x.Shape, models.Float32s(x), models.BF16)
		}
	})
	out, err := models.Bind(w.Config, func(name string) (*models.Tensor, bool) {
		x, ok := byName[name]
		return x, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
