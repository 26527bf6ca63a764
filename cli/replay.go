package cli

import (
	"flag"
	"io"

	"diffuapriel/ui"
)

// runReplay plays a recorded trace in the playground without a model.
func runReplay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	theme := fs.String("theme", "", themeHelp)
	record := fs.String("record", "", "record the screen from the start to the asciicast `FILE` (V stops and starts recordings)")
	files, err := parseInterspersed(fs, args, stdout, "replay [flags] TRACE")
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageError{"replay takes one trace file (diffuapriel replay [flags] TRACE)"}
	}
	return ui.Replay(ui.ReplayOptions{Path: files[0], Theme: *theme, Record: *record})
}
