package cli

import (
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"diffuapriel/engine"
	"diffuapriel/models"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	backend := fs.String("backend", "cpu", "compute backend: cpu, gpu or auto")
	presetList := fs.String("preset", "", "comma-separated presets (default: tiny on the CPU, 240m,1.3b on the GPU)")
	lengthList := fs.String("lengths", "", "comma-separated sequence lengths (default: 256,1024 for tiny, 1024,4096,16384,65536 otherwise)")
	backboneList := fs.String("backbones", "mamba,hybrid,transformer", "comma-separated backbones")
	repeat := fs.Int("repeat", 5, "timed steps per point (the median is reported)")
	seed := fs.Uint64("seed", 1, "seed of the random-init weights")
	if err := parseFlags(fs, args, stdout, "bench [flags]"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (flags start with --)", fs.Arg(0))}
	}
	if *repeat < 1 {
		return usageError{"--repeat must be at least 1"}
	}
	b, notice, err := engine.Open(*backend)
	if err != nil {
		return err
	}
	if notice != "" {
		fmt.Fprintln(stderr, "diffuapriel: "+notice)
	}
	b.Close()
	presets := splitList(*presetList)
	if len(presets) == 0 {
		presets = []string{"tiny"}
		if b.Name() == "gpu" {
			presets = []string{"240m", "1.3b"}
		}
	}
	var fixedLengths []int
	if *lengthList != "" {
		if fixedLengths, err = parseInts(*lengthList); err != nil {
			return usageError{"--lengths: " + err.Error()}
		}
	}
	backbones := splitList(*backboneList)
	for _, p := range presets {
		for _, bb := range backbones {
			if _, err := models.Preset(p, bb); err != nil {
				return usageError{err.Error()}
			}
		}
	}
	fmt.Fprintf(stdout, "ms per denoising step (forward + head sampling at every position, all masked), batch 1, median of %d\n", *repeat)
	fmt.Fprintf(stdout, rowFormat, "preset", "backbone", "params", "L", "ms/step", "tokens/s", "memory MiB", "backend", "device")
	for _, p := range presets {
		lengths := fixedLengths
		if lengths == nil {
			lengths = []int{1024, 4096, 16384, 65536}
			if p == "tiny" {
				lengths = []int{256, 1024}
			}
		}
		for _, bb := range backbones {
			benchModel(stdout, *backend, p, bb, lengths, *repeat, *seed)
		}
	}
	return nil
}

// rowFormat lays the table out in fixed columns so rows can be printed as
// soon as each point is measured (a 1.3b point at 64K takes a while).
const rowFormat = "%-6s %-12s %8s %6v %10v %10v %11v  %-7s %s\n"

// benchModel times one preset and backbone at each length, writing a row
// per length; a failure (out of memory, say) becomes that row's message.
func benchModel(w io.Writer, kind, preset, backbone string, lengths []int, repeat int, seed uint64) {
	cfg, _ := models.Preset(preset, backbone)
	params := fmt.Sprintf("%.1fM", float64(models.ParamCount(cfg))/1e6)
	fail := func(l int, err error) {
		fmt.Fprintf(w, "%-6s %-12s %8s %6d  error: %s\n", preset, backbone, params, l, oneLine(err.Error()))
	}
	b, _, err := engine.Open(kind)
	if err != nil {
		fail(0, err)
		return
	}
	defer b.Close()
	if err := b.Load(models.RandomInit(cfg, seed), nil); err != nil {
		fail(0, err)
		return
	}
	for _, l := range lengths {
		ms, err := timeStep(b, cfg, l, repeat)
		if err != nil {
			fail(l, err)
			continue
		}
		// Both backends keep their buffers between steps, so what is in use
		// after a step is the step's peak.
		used, _ := b.Memory()
		fmt.Fprintf(w, rowFormat, preset, backbone, params, l, fmt.Sprintf("%.2f", ms),
			fmt.Sprintf("%.0f", float64(l)/(ms/1000)), fmt.Sprintf("%.0f", float64(used)/(1<<20)), b.Name(), b.Device())
	}
}

// timeStep returns the median milliseconds of one denoising step of an
// all-masked sequence of length l, after one untimed warm-up step.
func timeStep(b engine.Backend, cfg *models.Config, l, repeat int) (float64, error) {
	tokens := make([]int32, l)
	q := &engine.HeadQuery{Positions: make([]int32, l), Uniform: make([]float32, l), Temperature: 1, TopN: 5}
	for i := range tokens {
		tokens[i] = int32(cfg.MaskTokenID)
		q.Positions[i] = int32(i)
		q.Uniform[i] = float32(i%97) / 97
	}
	sigma := -math.Log(1e-3) // a mid-schedule noise level; time does not depend on it
	var times []float64
	for i := 0; i <= repeat; i++ {
		start := time.Now()
		if _, err := b.Sample(tokens, sigma, q); err != nil {
			return 0, err
		}
		if i > 0 {
			times = append(times, float64(time.Since(start))/float64(time.Millisecond))
		}
	}
	sort.Float64s(times)
	return times[len(times)/2], nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}
