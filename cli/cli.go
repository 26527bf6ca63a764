// Package cli implements diffuapriel's commands: the playground (default),
// generate, init, bench, tokenize, replay and export. Every failure is one
// line on stderr and a non-zero exit status.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"play", "open the playground (the default when no command is given)", runPlay},
		{"generate", "generate text headlessly and print it", runGenerate},
		{"init", "write a random-init checkpoint from a preset", runInit},
		{"bench", "print ms per denoising step for each backbone", runBench},
		{"replay", "play a recorded trace in the playground, without the model", runReplay},
		{"export", "render a trace as an animated GIF or a self-contained HTML player", runExport},
		{"tokenize", "tokenize the training corpora into uint16 token files", runTokenize},
	}
}

// usageError marks errors caused by the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Main runs a command line and returns the process exit status.
func Main(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		if r := recover(); r != nil {
			// A bug, not bad input: still one line, with where it happened kept for reports.
			fmt.Fprintf(stderr, "diffuapriel: internal error: %v (please report; stack: %s)\n", r, firstFrames(debug.Stack()))
			status = 3
		}
	}()
	name, rest := "play", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, rest = args[0], args[1:]
	}
	if name == "help" {
		printHelp(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(rest, stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		fmt.Fprintf(stderr, "diffuapriel %s: %s\n", name, oneLine(err.Error()))
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stderr, "diffuapriel: unknown command %q (run 'diffuapriel help')\n", name)
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "diffuapriel: a terminal playground for masked-diffusion language models")
	fmt.Fprintln(w, "\nusage: diffuapriel [command] [flags]    (no command opens the playground)")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n'diffuapriel COMMAND --help' lists a command's flags and their defaults.")
}

// parseFlags parses a command's flags. --help prints every flag with its
// default to stdout; any other problem is a one-line usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, synopsis string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: diffuapriel %s\n\nflags:\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	if err != nil {
		return usageError{err.Error() + " (see --help)"}
	}
	return nil
}

// parseInterspersed parses flags that may come before or after positional
// arguments (`export TRACE --gif out.gif`) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string, stdout io.Writer, synopsis string) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args, stdout, synopsis); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func firstFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "diffuapriel/") && !strings.Contains(l, "cli.Main") {
			out = append(out, l)
		}
		if len(out) == 3 {
			break
		}
	}
	return strings.Join(out, " <- ")
}
