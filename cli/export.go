package cli

import (
	"flag"
	"fmt"
	"io"

	"diffuapriel/atomicfile"
	"diffuapriel/engine"
	"diffuapriel/export"
	"diffuapriel/themes"
)

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	gifOut := fs.String("gif", "", "write an animated GIF to `FILE`")
	htmlOut := fs.String("html", "", "write a self-contained HTML player to `FILE`")
	fps := fs.Float64("fps", 0, "GIF frames per second (0 = the recorded step times)")
	columns := fs.Int("columns", 0, "GIF text columns per pane (0 = 64)")
	themeName := fs.String("theme", themes.Default, "colour theme")
	plain := fs.Bool("plain", false, "GIF without the confidence heatmap")
	force := fs.Bool("force", false, "overwrite existing output files")
	positional, err := parseInterspersed(fs, args, stdout, "export (--gif FILE | --html FILE) [flags] TRACE")
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usageError{"export takes exactly one TRACE file"}
	}
	if *gifOut == "" && *htmlOut == "" {
		return usageError{"give --gif FILE, --html FILE or both"}
	}
	theme, err := themes.Get(*themeName)
	if err != nil {
		return usageError{err.Error()}
	}
	tr, err := engine.ReadTraceFile(positional[0])
	if err != nil {
		return err
	}
	if *gifOut != "" {
		opts := export.GIFOptions{Theme: theme, FPS: *fps, Columns: *columns, Plain: *plain}
		err := atomicfile.WriteFile(*gifOut, *force, func(w io.Writer) error { return export.GIF(w, tr, opts) })
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *gifOut)
	}
	if *htmlOut != "" {
		opts := export.HTMLOptions{Theme: theme}
		err := atomicfile.WriteFile(*htmlOut, *force, func(w io.Writer) error { return export.HTML(w, tr, opts) })
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *htmlOut)
	}
	return nil
}
