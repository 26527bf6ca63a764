package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"diffuapriel/models"
)

func runInit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	backbone := fs.String("backbone", "mamba", "backbone: mamba, hybrid or transformer")
	preset := fs.String("preset", "tiny", "size preset: "+strings.Join(models.PresetNames, ", "))
	out := fs.String("out", "", "checkpoint `FILE` to write (required)")
	seed := fs.Uint64("seed", 1, "random seed")
	dtype := fs.String("dtype", "F32", "stored dtype: F32, F16 or BF16")
	force := fs.Bool("force", false, "overwrite an existing file")
	if err := parseFlags(fs, args, stdout, "init --backbone B --preset P --out FILE [flags]"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (flags start with --)", fs.Arg(0))}
	}
	if *out == "" {
		return usageError{"--out is required"}
	}
	dt := models.DType(strings.ToUpper(*dtype))
	if dt.Size() == 0 {
		return usageError{fmt.Sprintf("--dtype %q: want F32, F16 or BF16", *dtype)}
	}
	cfg, err := models.Preset(*preset, *backbone)
	if err != nil {
		return usageError{err.Error()}
	}
	if err := models.WriteRandomInit(*out, cfg, *seed, dt, *force); err != nil {
		return err
	}
	info, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s %s, %d layers, %.1fM parameters, %s, %.1f MB\n", *out, *backbone, *preset,
		cfg.NLayers, float64(models.ParamCount(cfg))/1e6, dt, float64(info.Size())/1e6)
	return nil
}
