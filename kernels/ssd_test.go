package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSSDHandComputed(t *testing.T) {
	// One head, HeadDim 1, DState 1: x = [1, 2], B = C = 1, dt = 1, A = −1
	// (decay e^−1), D = 0.5.
	// Forward: S0 = 1, y0 = 1 + 0.5 = 1.5; S1 = e^−1 + 2, y1 = S1 + 1 = 3.367879.
	// Reverse: S1 = 2, y1 = 2 + 1 = 3; S0 = 2e^−1 + 1, y0 = S0 + 0.5 = 2.235759.
	// Row layout x|B|C, stride 3.
	xbc := []float32{1, 1, 1, 2, 1, 1}
	dims := SSDDims{L: 2, NHeads: 1, HeadDim: 1, NGroups: 1, DState: 1}
	dt, A, D := []float32{1, 1}, []float32{-1}, []float32{0.5}
	for _, c := range []struct {
		reverse bool
		want    []float32
	}{{false, []float32{1.5, 3.3678794}}, {true, []float32{2.2357589, 3}}} {
		y := make([]float32, 2)
		SSDSequential(y, xbc[0:], xbc[1:], xbc[2:], 3, dt, A, D, dims, c.reverse)
		assertClose(t, fmt.Sprintf("SSDSequential reverse=%v", c.reverse), y, c.want, 1e-6)
		SSDChunked(y, xbc[0:], xbc[1:], xbc[2:], 3, dt, A, D, dims, c.reverse, 1)
		assertClose(t, fmt.Sprintf("SSDChunked reverse=%v", c.reverse), y, c.want, 1e-6)
	}
}

// ssdCase is random SSD input laid out like the conv output: rows of
// x | B | C with one stride.
type ssdCase struct {
	dims      SSDDims
	xbc, dt   []float32
	A, D      []float32
	stride    int
	xOff, bOf int
	cOff      int
}

func newSSDCase(r *rand.Rand, L int) ssdCase {
	dims := SSDDims{L: L, NHeads: 4, HeadDim: 8, NGroups: 2, DState: 16}
	di, gn := dims.NHeads*dims.HeadDim, dims.NGroups*dims.DState
	c := ssdCase{dims: dims, stride: di + 2*gn + 3, xOff: 0, bOf: di, cOff: di + gn}
	c.xbc = randSlice(r, L*c.stride, 1)
	c.dt = make([]float32, L*dims.NHeads)
	for i := range c.dt {
		c.dt[i] = Softplus(2*r.Float32() - 3) // 0.02..0.3, like trained dt
	}
	c.A = []float32{-0.5, -1, -4, -16}
	c.D = randSlice(r, dims.NHeads, 1)
	return c
}

func (c ssdCase) run(chunk int, reverse bool) []float32 {
	y := make([]float32, c.dims.L*c.dims.NHeads*c.dims.HeadDim)
	x, b, cc := c.xbc[c.xOff:], c.xbc[c.bOf:], c.xbc[c.cOff:]
	if chunk == 0 {
		SSDSequential(y, x, b, cc, c.stride, c.dt, c.A, c.D, c.dims, reverse)
	} else {
		SSDChunked(y, x, b, cc, c.stride, c.dt, c.A, c.D, c.dims, reverse, chunk)
	}
	return y
}

// flipped returns the case with its sequence reversed.
func (c ssdCase) flipped() ssdCase {
	f := c
	f.xbc = flipRows(c.xbc, c.stride)
	f.dt = flipRows(c.dt, c.dims.NHeads)
	return f
}

func flipRows(s []float32, width int) []float32 {
	rows := len(s) / width
	out := make([]float32, 0, len(s))
	for t := rows - 1; t >= 0; t-- {
		out = append(out, s[t*width:(t+1)*width]...)
	}
	return out
}

func TestSSDChunkedMatchesSequential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, L := range []int{1, 7, 16, 37, 100} {
		c := newSSDCase(r, L)
		for _, reverse := range []bool{false, true} {
			seq := c.run(0, reverse)
			chunked := c.run(16, reverse)
			if e := relErr(chunked, seq); e > 1e-4 {
				t.Errorf("L=%d reverse=%v: chunked vs sequential relative error %.3g", L, reverse, e)
			}
		}
		// reverse == flip(forward(flip(·))), for both algorithms.
		width := c.dims.NHeads * c.dims.HeadDim
		for _, chunk := range []int{0, 16} {
			rev := c.run(chunk, true)
			viaFlip := flipRows(c.flipped().run(chunk, false), width)
			if e := relErr(rev, viaFlip); e > 1e-6 {
				t.Errorf("L=%d chunk=%d: reverse vs flip(forward(flip)) relative error %.3g", L, chunk, e)
			}
		}
	}
}

func TestSSDChunkSizesAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := newSSDCase(r, 50)
	ref := c.run(0, false)
	for _, chunk := range []int{1, 3, 50, 64} {
		if e := relErr(c.run(chunk, false), ref); e > 1e-4 {
			t.Errorf("chunk %d: relative error %.3g", chunk, e)
		}
	}
	if slices.Equal(ref, make([]float32, len(ref))) {
		t.Fatal("SSD output is all zeros")
	}
}
