package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// maxWorkers is the goroutine budget of every parallel kernel; 0 means
// runtime.GOMAXPROCS(0). It is process-wide because kernels are plain
// functions; a backend sets it once when it is created.
var maxWorkers atomic.Int32

// SetWorkers sets how many goroutines the parallel kernels use at most.
// n <= 0 restores the default, runtime.GOMAXPROCS(0).
func SetWorkers(n int) {
	if n < 0 {
		n = 0
	}
	maxWorkers.Store(int32(n))
}

// Workers reports the goroutine budget of the parallel kernels.
func Workers() int {
	if n := int(maxWorkers.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// ParallelFor runs fn over [0, n) split into contiguous ranges of at least
// grain items, one range per goroutine, and waits for all of them. part is
// the range's index, in [0, Workers()), so a caller can give each range its
// own scratch buffer. It runs inline when one range covers everything.
func ParallelFor(n, grain int, fn func(part, lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	parts := min(Workers(), (n+grain-1)/grain)
	if parts <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(p, lo, hi)
		}()
	}
	wg.Wait()
}

// scratchPool recycles float32 buffers of kernels that need per-call
// workspace (attention scores, SSD states), so repeated calls do not
// allocate.
var scratchPool sync.Pool

// getScratch returns a zeroed buffer of n floats; return it with putScratch.
func getScratch(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		clear(*p)
		return p
	}
	buf := make([]float32, n)
	return &buf
}

func putScratch(p *[]float32) { scratchPool.Put(p) }

// parallelTasks runs fn(task) for every task in [0, n), handing tasks to
// workers one at a time so uneven tasks still balance.
func parallelTasks(n int, fn func(task int)) {
	workers := min(Workers(), n)
	if workers <= 1 {
		for t := range n {
			fn(t)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := int(next.Add(1) - 1)
				if t >= n {
					return
				}
				fn(t)
			}
		}()
	}
	wg.Wait()
}
