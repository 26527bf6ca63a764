package cli

import (
	"flag"
	"fmt"
	"io"

	"diffuapriel/ui"
)

const themeHelp = "colour theme: dark, light, high-contrast or colorblind (default: config file, then dark)"

func runPlay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	var g generation
	g.register(fs, "checkpoint to open (repeat 2 or 3 times to compare them side by side; default: the embedded model)")
	compare := fs.Bool("compare", false, "compare the built-in backbones side by side")
	theme := fs.String("theme", "", themeHelp)
	record := fs.String("record", "", "record the screen from the start to the asciicast `FILE` (V stops and starts recordings)")
	trace := fs.String("trace", "", "save the run on screen at quit as a JSON Lines trace to `FILE` (S saves one any time)")
	if err := parseFlags(fs, args, stdout, "[play] [flags]"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (flags start with --)", fs.Arg(0))}
	}
	if len(g.models) > 3 {
		return usageError{"compare mode shows at most 3 models"}
	}
	if err := g.validate(); err != nil {
		return err
	}
	return ui.Run(ui.Options{ModelPaths: g.models, Compare: *compare, Backend: g.backend,
		Prompt: g.prompt, Length: g.resolvedLength(), Sampling: g.opts, Theme: *theme,
		Record: *record, Trace: *trace})
}
