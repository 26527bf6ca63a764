package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"diffuapriel/engine"
	"diffuapriel/models"
	"diffuapriel/tokenizer"
)

func runGenerate(args []string, stdout, stderr io.Writer) error {
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
	if *tracePath != "" && !*force {
		if _, err := os.Stat(*tracePath); err == nil {
			return fmt.Errorf("%s exists; pass --force to overwrite", *tracePath)
		}
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
	var trace *traceFile
	if *tracePath != "" {
		header := engine.TraceHeader{
			Created: time.Now().UTC(), Prompt: g.prompt, Length: g.resolvedLength(), Options: g.opts,
			Canvas: canvas, Mask: int32(cfg.MaskTokenID),
			Panes: []engine.PaneInfo{{Model: name, Path: ck.Path, Params: models.ParamCount(cfg),
				Backend: b.Name(), Device: b.Device(), Config: cfg}},
		}
		if trace, err = createTrace(*tracePath, header); err != nil {
			return err
		}
		defer trace.abort()
	}
	for !run.Done() {
		ev, err := run.Step()
		if err != nil {
			return err
		}
		if trace != nil {
			if err := trace.w.Step(0, ev); err != nil {
				return err
			}
		}
	}
	if trace != nil {
		if err := trace.commit(*force); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintln(stdout, tok.Decode(run.Canvas().Tokens))
	return err
}

// traceFile streams a trace into a temporary file beside its destination
// and renames it into place only when the generation completed, so a failed
// run never leaves a half trace or clobbers an existing file.
type traceFile struct {
	tmp  *os.File
	dest string
	w    *engine.TraceWriter
}

func createTrace(dest string, h engine.TraceHeader) (*traceFile, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write trace %s: %v", dest, err)
	}
	w, err := engine.NewTraceWriter(tmp, h)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &traceFile{tmp: tmp, dest: dest, w: w}, nil
}

func (t *traceFile) commit(force bool) error {
	if err := t.tmp.Sync(); err != nil {
		return fmt.Errorf("writing trace %s: %v", t.dest, err)
	}
	if err := t.tmp.Close(); err != nil {
		return fmt.Errorf("writing trace %s: %v", t.dest, err)
	}
	if !force {
		if _, err := os.Stat(t.dest); err == nil {
			return fmt.Errorf("%s exists; pass --force to overwrite", t.dest)
		}
	}
	if err := os.Rename(t.tmp.Name(), t.dest); err != nil {
		return fmt.Errorf("writing trace %s: %v", t.dest, err)
	}
	t.tmp = nil
	return nil
}

// abort removes the temporary file unless commit already moved it.
func (t *traceFile) abort() {
	if t.tmp != nil {
		t.tmp.Close()
		os.Remove(t.tmp.Name())
	}
}
