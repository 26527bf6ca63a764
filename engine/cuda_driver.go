//go:build cuda

package engine

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

// Stream capture and graph replay: gorgonia.org/cu v0.9.6 builds graphs node
// by node but cannot capture a stream, so these few calls go direct.
static CUresult capture_begin(void *s) { return cuStreamBeginCapture((CUstream)s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL); }
static CUresult capture_end(void *s, CUgraph *g) { return cuStreamEndCapture((CUstream)s, g); }
static CUresult graph_instantiate(CUgraphExec *e, CUgraph g) { return cuGraphInstantiateWithFlags(e, g, 0); }
static CUresult graph_launch(CUgraphExec e, void *s) { return cuGraphLaunch(e, (CUstream)s); }
static CUresult graph_destroy(CUgraph g) { return cuGraphDestroy(g); }
static CUresult graph_exec_destroy(CUgraphExec e) { return cuGraphExecDestroy(e); }
static const char *error_name(CUresult r) {
	const char *s = 0;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s) return "unknown CUDA error";
	return s;
}
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"
)

// cudaThread owns the CUDA context: every driver call runs on its one
// goroutine, locked to one OS thread (the context is current only there).
type cudaThread struct {
	jobs chan func()
}

func newCudaThread() *cudaThread {
	t := &cudaThread{jobs: make(chan func())}
	go func() {
		runtime.LockOSThread()
		for job := range t.jobs {
			job()
		}
	}()
	return t
}

// do runs f on the CUDA thread and returns its error; a panic inside f
// (a bug) comes back as an error instead of taking the process down.
func (t *cudaThread) do(f func() error) error {
	done := make(chan error, 1)
	t.jobs <- func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("gpu backend: internal error: %v", r)
			}
		}()
		done <- f()
	}
	return <-done
}

func (t *cudaThread) stop() { close(t.jobs) }

// streamHandle is the raw CUstream inside a gorgonia stream.
func streamHandle(s *cu.Stream) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(s)) }

// cudaGraph is one captured, instantiated sequence of launches.
type cudaGraph struct {
	graph C.CUgraph
	exec  C.CUgraphExec
}

func cuErr(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s", what, C.GoString(C.error_name(r)))
}

// captureGraph records everything record enqueues on stream into a graph.
// If record fails, the capture is ended and its error returned.
func captureGraph(stream unsafe.Pointer, record func() error) (*cudaGraph, error) {
	if err := cuErr("cuStreamBeginCapture", C.capture_begin(stream)); err != nil {
		return nil, err
	}
	recErr := record()
	g := &cudaGraph{}
	endErr := cuErr("cuStreamEndCapture", C.capture_end(stream, &g.graph))
	if recErr != nil || endErr != nil {
		if g.graph != nil {
			C.graph_destroy(g.graph)
		}
		if recErr != nil {
			return nil, recErr
		}
		return nil, endErr
	}
	if err := cuErr("cuGraphInstantiate", C.graph_instantiate(&g.exec, g.graph)); err != nil {
		C.graph_destroy(g.graph)
		return nil, err
	}
	return g, nil
}

func (g *cudaGraph) launch(stream unsafe.Pointer) error {
	return cuErr("cuGraphLaunch", C.graph_launch(g.exec, stream))
}

func (g *cudaGraph) destroy() {
	C.graph_exec_destroy(g.exec)
	C.graph_destroy(g.graph)
}

// kernelArgs packs kernel parameters as cu.Function.Launch expects them: a
// pointer to 8 bytes per parameter, of which the kernel reads its own width
// (little-endian, so an int or float sits in the low bytes).
func kernelArgs(args ...any) []unsafe.Pointer {
	vals := make([]uint64, len(args))
	ptrs := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case cu.DevicePtr:
			vals[i] = uint64(v)
		case int:
			vals[i] = uint64(uint32(int32(v)))
		case bool:
			if v {
				vals[i] = 1
			}
		case float32:
			vals[i] = uint64(math.Float32bits(v))
		case float64:
			vals[i] = math.Float64bits(v)
		default:
			panic(fmt.Sprintf("kernelArgs: unsupported argument type %T", a))
		}
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	return ptrs
}
