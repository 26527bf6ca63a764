# CUDA build rules (included by the Makefile). The PTX under kernels/ptx is
# committed, so `make gpu` needs Go, the CUDA driver API headers (cuda.h, for
# gorgonia.org/cu) and libcuda at link time, but no nvcc; `make kernels`
# regenerates the PTX after a change to kernels/*.cu or kernels/*.cuh.

NVCC ?= nvcc
NVCCFLAGS ?= -O3 -std=c++14
KERNEL_ARCHS := 80 90
KERNEL_SOURCES := $(wildcard kernels/*.cu)
KERNEL_HEADERS := $(wildcard kernels/*.cuh)
KERNEL_PTX := $(foreach a,$(KERNEL_ARCHS),$(patsubst kernels/%.cu,kernels/ptx/%.sm_$(a).ptx,$(KERNEL_SOURCES)))

.PHONY: kernels gpu gpu-tests

kernels: $(KERNEL_PTX)

kernels/ptx/%.sm_80.ptx: kernels/%.cu $(KERNEL_HEADERS)
	@mkdir -p kernels/ptx
	$(NVCC) $(NVCCFLAGS) -arch=sm_80 --ptx -o $@ $<

kernels/ptx/%.sm_90.ptx: kernels/%.cu $(KERNEL_HEADERS)
	@mkdir -p kernels/ptx
	$(NVCC) $(NVCCFLAGS) -arch=sm_90 --ptx -o $@ $<

# The GPU binary: the CPU engine plus the CUDA backend (build tag cuda).
gpu:
	go build -tags cuda -o bin/diffuapriel-gpu .

# GPU test binaries, to run on a machine with a GPU (bin/engine-gpu.test -test.v).
gpu-tests:
	go test -c -tags cuda -o bin/engine-gpu.test ./engine
