//go:build cuda

package engine

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>

// cuBLAS is reached through dlopen so one binary runs with whichever
// libcublas the machine has (11, 12 or 13): the entry points used here have
// kept their C signatures across those versions.
typedef int (*cublas_create_fn)(void **);
typedef int (*cublas_destroy_fn)(void *);
typedef int (*cublas_set_stream_fn)(void *, void *);
typedef int (*cublas_set_workspace_fn)(void *, void *, size_t);
typedef int (*cublas_get_version_fn)(void *, int *);
typedef int (*cublas_gemm_ex_fn)(void *, int, int, int, int, int, const void *, const void *, int, int, const void *,
                                 int, int, const void *, void *, int, int, int, int);

typedef struct {
	void *lib;
	cublas_create_fn create;
	cublas_destroy_fn destroy;
	cublas_set_stream_fn set_stream;
	cublas_set_workspace_fn set_workspace; // NULL before cuBLAS 11.x's cublasSetWorkspace
	cublas_get_version_fn get_version;
	cublas_gemm_ex_fn gemm_ex;
} cublas_api;

// cublas_open fills api from the library at path; it returns NULL or the
// reason it failed (a static or dlerror string).
static const char *cublas_open(const char *path, cublas_api *api) {
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) return dlerror();
	api->lib = lib;
	api->create = (cublas_create_fn)dlsym(lib, "cublasCreate_v2");
	api->destroy = (cublas_destroy_fn)dlsym(lib, "cublasDestroy_v2");
	api->set_stream = (cublas_set_stream_fn)dlsym(lib, "cublasSetStream_v2");
	api->set_workspace = (cublas_set_workspace_fn)dlsym(lib, "cublasSetWorkspace_v2");
	api->get_version = (cublas_get_version_fn)dlsym(lib, "cublasGetVersion_v2");
	api->gemm_ex = (cublas_gemm_ex_fn)dlsym(lib, "cublasGemmEx");
	if (!api->create || !api->destroy || !api->set_stream || !api->gemm_ex || !api->get_version) {
		dlclose(lib);
		api->lib = NULL;
		return "library lacks cublasCreate_v2, cublasSetStream_v2, cublasGetVersion_v2 or cublasGemmEx";
	}
	return NULL;
}

static int cublas_create(cublas_api *api, void **handle) { return api->create(handle); }
static int cublas_destroy(cublas_api *api, void *handle) { return api->destroy(handle); }
static int cublas_set_stream(cublas_api *api, void *handle, void *stream) { return api->set_stream(handle, stream); }
static int cublas_version(cublas_api *api, void *handle, int *v) { return api->get_version(handle, v); }
static int cublas_set_workspace(cublas_api *api, void *handle, unsigned long long ws, size_t bytes) {
	return api->set_workspace ? api->set_workspace(handle, (void *)ws, bytes) : 0;
}

// C (m x n, column-major) = alpha op(A) op(B) + beta C with float32
// accumulation (CUBLAS_COMPUTE_32F = 68) and the default algorithm (-1).
static int cublas_gemm(cublas_api *api, void *handle, int transa, int transb, int m, int n, int k, float alpha,
                       unsigned long long A, int atype, int lda, unsigned long long B, int btype, int ldb, float beta,
                       unsigned long long C, int ctype, int ldc) {
	return api->gemm_ex(handle, transa, transb, m, n, k, &alpha, (const void *)A, atype, lda, (const void *)B, btype,
	                    ldb, &beta, (void *)C, ctype, ldc, 68, -1);
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"unsafe"
)

// cuBLAS enum values (cublas_api.h, library_types.h).
const (
	cublasOpN    = 0
	cublasOpT    = 1
	cudaR32F     = 0
	cudaR16BF    = 14
	cublasStatOK = 0
)

// cublasCandidates are the names dlopen tries, in order, after the path in
// $DIFFUAPRIEL_CUBLAS; the unversioned name first, so a development install
// wins over whatever runtime happens to be on the loader path.
var cublasCandidates = []string{
	"libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11",
	"/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.12",
	"/usr/local/cuda/lib64/libcublas.so.11", "/usr/local/cuda/lib64/libcublas.so",
}

// cublas is one cuBLAS handle bound to the backend's stream.
type cublas struct {
	api     C.cublas_api
	handle  unsafe.Pointer
	path    string
	version int
}

// openCublas loads cuBLAS and creates a handle; it must run on the thread
// that holds the CUDA context.
func openCublas() (*cublas, error) {
	names := cublasCandidates
	if p := os.Getenv("DIFFUAPRIEL_CUBLAS"); p != "" {
		names = append([]string{p}, names...)
	}
	b := &cublas{}
	var tried []string
	for _, name := range names {
		cname := C.CString(name)
		msg := C.cublas_open(cname, &b.api)
		C.free(unsafe.Pointer(cname))
		if msg == nil {
			b.path = name
			break
		}
		tried = append(tried, C.GoString(msg))
	}
	if b.path == "" {
		return nil, fmt.Errorf("cuBLAS not found (set DIFFUAPRIEL_CUBLAS to libcublas.so's path): %s", strings.Join(tried[:min(len(tried), 2)], "; "))
	}
	if st := C.cublas_create(&b.api, &b.handle); st != cublasStatOK {
		return nil, fmt.Errorf("cublasCreate failed with status %d (%s)", int(st), b.path)
	}
	var v C.int
	if st := C.cublas_version(&b.api, b.handle, &v); st != cublasStatOK {
		return nil, fmt.Errorf("cublasGetVersion failed with status %d", int(st))
	}
	b.version = int(v)
	return b, nil
}

// bind makes every later call run on stream, using ws as the workspace (so
// that graph capture never needs cuBLAS to allocate).
func (b *cublas) bind(stream unsafe.Pointer, ws uint64, wsBytes int64) error {
	if st := C.cublas_set_stream(&b.api, b.handle, stream); st != cublasStatOK {
		return fmt.Errorf("cublasSetStream failed with status %d", int(st))
	}
	if st := C.cublas_set_workspace(&b.api, b.handle, C.ulonglong(ws), C.size_t(wsBytes)); st != cublasStatOK {
		return fmt.Errorf("cublasSetWorkspace failed with status %d", int(st))
	}
	return nil
}

// linear computes the row-major product out[M,N] = beta*out + x[M,K] · w[N,K]^T
// (the shape of every linear layer) with bf16 x and w and float32
// accumulation; out is bf16 or float32 (outType), its rows ldo apart. In
// cuBLAS's column-major terms this is out^T = w · x^T: op(A) = w^T stored
// K x N, op(B) = x^T stored K x M.
func (b *cublas) linear(out uint64, outType, ldo int, x uint64, ldx int, w uint64, M, N, K int, beta float32) error {
	st := C.cublas_gemm(&b.api, b.handle, cublasOpT, cublasOpN, C.int(N), C.int(M), C.int(K), 1,
		C.ulonglong(w), cudaR16BF, C.int(K), C.ulonglong(x), cudaR16BF, C.int(ldx), C.float(beta),
		C.ulonglong(out), C.int(outType), C.int(ldo))
	if st != cublasStatOK {
		return fmt.Errorf("cublasGemmEx (%dx%dx%d) failed with status %d", M, N, K, int(st))
	}
	return nil
}

func (b *cublas) close() {
	if b.handle != nil {
		C.cublas_destroy(&b.api, b.handle)
		b.handle = nil
	}
}
