package models

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// hostLittleEndian reports whether float32 values in memory share the
// safetensors byte order, which is what makes a zero-copy F32 view possible.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Float32s decodes a tensor of any supported dtype to float32; F16 and BF16
// convert exactly (every F16/BF16 value, subnormals included, is a float32).
//
// For F32 data that is 4-byte aligned on a little-endian host the result is a
// zero-copy view of t.Data, which is often a read-only memory map: callers
// must treat the returned slice as read-only (writing to it may crash the
// process) and copy it before modifying.
//
// A tensor whose dtype is unknown or whose Data length disagrees with its
// shape is a programming error (Load and NewTensor never build one) and panics.
func Float32s(t *Tensor) []float32 {
	n := t.Numel()
	size := t.DType.Size()
	if size == 0 {
		panic(fmt.Sprintf("models.Float32s: tensor %q has unknown dtype %q", t.Name, t.DType))
	}
	if len(t.Data) != n*size {
		panic(fmt.Sprintf("models.Float32s: tensor %q holds %d bytes, its shape %v needs %d", t.Name, len(t.Data), t.Shape, n*size))
	}
	if n == 0 {
		return []float32{}
	}
	if t.DType == F32 && hostLittleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(t.Data)))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(t.Data))), n)
	}
	out := make([]float32, n)
	decodeInto(out, t.Data, t.DType)
	return out
}

// decodeInto converts len(dst) elements of raw little-endian data.
func decodeInto(dst []float32, raw []byte, dtype DType) {
	switch dtype {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = f16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = bf16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
}

// NewTensor encodes float32 data as a tensor of the given dtype, rounding to
// nearest-even for F16 and BF16 (values beyond the F16 range become ±Inf, which
// Save then refuses). A data length that disagrees with shape, or an unknown
// dtype, is a programming error and panics.
func NewTensor(name string, shape []int, data []float32, dtype DType) *Tensor {
	t := &Tensor{Name: name, DType: dtype, Shape: append([]int(nil), shape...)}
	if dtype.Size() == 0 {
		panic(fmt.Sprintf("models.NewTensor: tensor %q: unknown dtype %q", name, dtype))
	}
	if n := t.Numel(); n != len(data) {
		panic(fmt.Sprintf("models.NewTensor: tensor %q: shape %v needs %d values, got %d", name, shape, n, len(data)))
	}
	t.Data = encodeFloat32s(data, dtype)
	return t
}

// encodeFloat32s converts float32 values to little-endian bytes of dtype.
func encodeFloat32s(data []float32, dtype DType) []byte {
	out := make([]byte, len(data)*dtype.Size())
	switch dtype {
	case F32:
		for i, v := range data {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range data {
			binary.LittleEndian.PutUint16(out[2*i:], f32ToF16(v))
		}
	case BF16:
		for i, v := range data {
			binary.LittleEndian.PutUint16(out[2*i:], f32ToBF16(v))
		}
	}
	return out
}

// f16ToF32 decodes an IEEE 754 binary16 value exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0: // zero or subnormal: mant * 2^-24, exact in float32
		v := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(v) | sign)
	case 0x1f: // Inf or NaN; keep the payload's top bits
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// f32ToF16 rounds a float32 to the nearest binary16, ties to even; values
// beyond the binary16 range become ±Inf and NaN stays NaN.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // binary16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal result: the value in units of 2^-24 is full >> (14 - e).
		if exp == 0 || e < -11 {
			return sign // far below half the smallest subnormal
		}
		full := mant | 0x800000
		return sign | uint16(roundShiftEven(full, uint(14-e)))
	}
	// Normal result: a mantissa carry correctly bumps the exponent (to Inf at the top).
	return sign | (uint16(e)<<10 + uint16(roundShiftEven(mant, 13)))
}

// roundShiftEven returns v >> shift rounded to nearest, ties to even.
func roundShiftEven(v uint32, shift uint) uint32 {
	q := v >> shift
	rem := v & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}

// bf16ToF32 decodes a bfloat16 value exactly (it is the top half of a float32).
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 rounds a float32 to the nearest bfloat16, ties to even.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it a (quiet) NaN rather than rounding to Inf
		return uint16(b>>16) | 0x0040
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// nonFinite finds the first NaN or Inf element of raw data of dtype, returning
// its index and a description, or -1.
func nonFinite(raw []byte, dtype DType) (int, string) {
	describe := func(isNaN bool, negative bool) string {
		switch {
		case isNaN:
			return "NaN"
		case negative:
			return "-Inf"
		}
		return "+Inf"
	}
	switch dtype {
	case F32:
		for i := 0; i+4 <= len(raw); i += 4 {
			b := binary.LittleEndian.Uint32(raw[i:])
			if b&0x7f800000 == 0x7f800000 {
				return i / 4, describe(b&0x7fffff != 0, b>>31 == 1)
			}
		}
	case F16, BF16:
		expMask, mantMask := uint16(0x7c00), uint16(0x03ff)
		if dtype == BF16 {
			expMask, mantMask = 0x7f80, 0x007f
		}
		for i := 0; i+2 <= len(raw); i += 2 {
			h := binary.LittleEndian.Uint16(raw[i:])
			if h&expMask == expMask {
				return i / 2, describe(h&mantMask != 0, h>>15 == 1)
			}
		}
	}
	return -1, ""
}

// finiteCheckChunk is the slice of one tensor that one worker scans at a time.
const finiteCheckChunk = 8 << 20

// checkFinite scans every element of every tensor for NaN/Inf in parallel
// and reports the first offender in tensor order, naming it.
func checkFinite(tensors []*Tensor) error {
	type job struct {
		tensor int
		begin  int // byte offset within the tensor
	}
	var jobs []job
	for i, t := range tensors {
		for b := 0; b < len(t.Data); b += finiteCheckChunk {
			jobs = append(jobs, job{i, b})
		}
	}
	firstBad := make([]int, len(tensors)) // element index per tensor, -1 when clean
	kinds := make([]string, len(tensors))
	for i := range firstBad {
		firstBad[i] = -1
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan job)
	for range min(runtime.GOMAXPROCS(0), max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range work {
				t := tensors[j.tensor]
				size := t.DType.Size()
				raw := t.Data[j.begin:min(j.begin+finiteCheckChunk, len(t.Data))]
				idx, kind := nonFinite(raw, t.DType)
				if idx < 0 {
					continue
				}
				idx += j.begin / size
				mu.Lock()
				if firstBad[j.tensor] < 0 || idx < firstBad[j.tensor] {
					firstBad[j.tensor], kinds[j.tensor] = idx, kind
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	for i, idx := range firstBad {
		if idx >= 0 {
			return fmt.Errorf("tensor %q element %d is %s", tensors[i].Name, idx, kinds[i])
		}
	}
	return nil
}
