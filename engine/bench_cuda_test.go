//go:build cuda

package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"diffuapriel/models"
)

// TestGPUBenchTable times one denoising step (Backend.Sample over an
// all-masked sequence, every position sampled) per preset, backbone and
// length, and prints a table. It asserts nothing about speed and runs only
// when DIFFUAPRIEL_GPU_BENCH names what to time, e.g.
//
//	DIFFUAPRIEL_GPU_BENCH='240m:mamba,transformer;1.3b:mamba,hybrid,transformer'
//	DIFFUAPRIEL_GPU_BENCH_L=1024,4096,16384,65536 DIFFUAPRIEL_GPU_BENCH_REPS=5
//
// The first call at a length is the eager warm-up, the second captures the
// CUDA graph; the timed calls replay it.
func TestGPUBenchTable(t *testing.T) {
	spec := os.Getenv("DIFFUAPRIEL_GPU_BENCH")
	if spec == "" {
		t.Skip("set DIFFUAPRIEL_GPU_BENCH to run the GPU benchmark table")
	}
	lengths := []int{1024, 4096, 16384, 65536}
	if s := os.Getenv("DIFFUAPRIEL_GPU_BENCH_L"); s != "" {
		lengths = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				t.Fatalf("DIFFUAPRIEL_GPU_BENCH_L: bad length %q", f)
			}
			lengths = append(lengths, n)
		}
	}
	reps := 5
	if s := os.Getenv("DIFFUAPRIEL_GPU_BENCH_REPS"); s != "" {
		var err error
		if reps, err = strconv.Atoi(s); err != nil || reps <= 0 {
			t.Fatalf("DIFFUAPRIEL_GPU_BENCH_REPS: bad count %q", s)
		}
	}
	gpu := testGPU(t)
	fmt.Printf("# %s, %s\n", gpu.Device(), time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("%-6s %-11s %6s %9s %10s %9s %s\n", "preset", "backbone", "L", "ms/step", "tokens/s", "used GiB", "graph")
	for _, group := range strings.Split(spec, ";") {
		preset, backbones, ok := strings.Cut(group, ":")
		if !ok {
			t.Fatalf("DIFFUAPRIEL_GPU_BENCH: %q is not preset:backbone,...", group)
		}
		for _, backbone := range strings.Split(backbones, ",") {
			cfg, err := models.Preset(preset, backbone)
			if err != nil {
				t.Fatal(err)
			}
			w := models.RandomInit(cfg, 1)
			if err := gpu.Load(w, nil); err != nil {
				t.Fatal(err)
			}
			w = nil
			runtime.GC()
			for _, L := range lengths {
				ms, err := benchStep(gpu, cfg, L, reps)
				if err != nil {
					fmt.Printf("%-6s %-11s %6d %s\n", preset, backbone, L, err)
					continue
				}
				used, _ := gpu.Memory()
				graph := "yes"
				if gpu.graph == nil || gpu.graphL != L {
					graph = fmt.Sprintf("no (%v)", gpu.graphErr)
				}
				fmt.Printf("%-6s %-11s %6d %9.2f %10.0f %9.2f %s\n", preset, backbone, L, ms, float64(L)/ms*1e3,
					float64(used)/(1<<30), graph)
				if os.Getenv("DIFFUAPRIEL_GPU_PROFILE") != "" {
					printProfile(t, gpu, cfg, L)
				}
			}
		}
	}
}

// printProfile runs one eager step with every launch timed and prints the
// kernels by total device time.
func printProfile(t *testing.T, gpu *GPU, cfg *models.Config, L int) {
	tokens, q := allMasked(cfg, L)
	times, err := gpu.ProfileSample(tokens, 0.9, q)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(times))
	var total float64
	for n, ms := range times {
		names = append(names, n)
		total += ms
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case times[a] > times[b]:
			return -1
		case times[a] < times[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, times[n]))
	}
	fmt.Printf("    profile (eager, ms, total %.2f): %s\n", total, strings.Join(parts, ", "))
}

// allMasked is an all-masked sequence of length L and a query sampling
// every position at temperature 1.
func allMasked(cfg *models.Config, L int) ([]int32, *HeadQuery) {
	rng := rand.New(rand.NewPCG(uint64(L), 1))
	tokens := make([]int32, L)
	q := &HeadQuery{Positions: make([]int32, L), Uniform: make([]float32, L), Temperature: 1}
	for i := range tokens {
		tokens[i] = int32(cfg.MaskTokenID)
		q.Positions[i] = int32(i)
		q.Uniform[i] = rng.Float32()
	}
	return tokens, q
}

// benchStep returns the median milliseconds of reps sampling steps at
// length L, after two untimed ones (warm-up and graph capture).
func benchStep(gpu *GPU, cfg *models.Config, L, reps int) (float64, error) {
	tokens, q := allMasked(cfg, L)
	times := make([]float64, 0, reps)
	for i := range reps + 2 {
		start := time.Now()
		if _, err := gpu.Sample(tokens, 0.9, q); err != nil {
			return 0, err
		}
		if i >= 2 {
			times = append(times, float64(time.Since(start).Microseconds())/1e3)
		}
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}
