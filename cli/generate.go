package cli

import (
	"flag"
	"fmt"
	"io"
	"time"

	"diffuapriel/atomicfile"
	"diffuapriel/engine"
	"diffuapriel/models"
	"diffuapriel/tokenizer"
)

func runGenerate(args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	var g generation
	g.register(fs, "checkpoint: a .safetensors file, an index or a directory (default: the embedded model)")
	tracePath := fs.String("trace", "", "write every step as JSON Lines to `FILE`")
	force := fs.Bool("force", false, "overwrite an existing --trace file")
	if err := parseFlags(fs, args, stdout, "generate [flags]"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (flags start with --)", fs.Arg(0))}
	}
	if len(g.models) > 1 {
		return usageError{"generate takes one --model"}
	}
	if err := g.validate(); err != nil {
		return err
	}
	// The trace streams into a temporary file that replaces the destination
	// only once the generation has completed; an existing file is refused
	// before any work is done.
	var traceFile *atomicfile.File
	if *tracePath != "" {
		if traceFile, err = atomicfile.Create(*tracePath, *force); err != nil {
			return err
		}
		defer traceFile.Abort()
		defer func() {
			if err == nil {
				err = traceFile.Commit()
			}
		}()
	}
	tok, err := tokenizer.GPT2()
	if err != nil {
		return err
	}
	var path string
	if len(g.models) == 1 {
		path = g.models[0]
	}
	ck, name, err := openCheckpoint(path)
	if err != nil {
		return err
	}
	defer ck.Close()
	cfg := ck.Config
	canvas, err := engine.ParsePrompt(tok, g.prompt, g.resolvedLength(), int32(cfg.MaskTokenID), cfg.MaxSeqLen)
	if err != nil {
		return err
	}
	b, err := openBackend(g.backend, ck.Weights, stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	run, err := engine.NewRun(b, cfg, canvas, g.opts)
	if err != nil {
		return err
	}
	var trace *engine.TraceWriter
	if *tracePath != "" {
		header := engine.TraceHeader{
			Created: time.Now().UTC(), Prompt: g.prompt, Length: g.resolvedLength(), Options: g.opts,
			Canvas: canvas, Mask: int32(cfg.MaskTokenID),
			Panes: []engine.PaneInfo{{Model: name, Path: ck.Path, Params: models.ParamCount(cfg),
				Backend: b.Name(), Device: b.Device(), Config: cfg}},
		}
		if trace, err = engine.NewTraceWriter(traceFile, header); err != nil {
			return err
		}
	}
	for !run.Done() {
		ev, err := run.Step()
		if err != nil {
			return err
		}
		if trace != nil {
			if err := trace.Step(0, ev); err != nil {
				return err
			}
		}
	}
	_, err = fmt.Fprintln(stdout, tok.Decode(run.Canvas().Tokens))
	return err
}
