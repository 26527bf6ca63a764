package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image/gif"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"diffuapriel/engine"
	"diffuapriel/tokenizer"
)

// run executes a command line and returns status, stdout and stderr.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	status := Main(args, &out, &errb)
	return status, out.String(), errb.String()
}

// oneLineError asserts a failing command printed exactly one line naming want.
func oneLineError(t *testing.T, want string, args ...string) {
	t.Helper()
	status, _, stderr := run(args...)
	if status == 0 {
		t.Fatalf("%v succeeded", args)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("%v: stderr %q, want one line containing %q", args, stderr, want)
	}
}

func tinyCheckpoint(t *testing.T, backbone string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), backbone+".safetensors")
	if status, _, stderr := run("init", "--backbone", backbone, "--preset", "tiny", "--out", path); status != 0 {
		t.Fatalf("init: %s", stderr)
	}
	return path
}

func TestGenerateEndToEndWithTrace(t *testing.T) {
	model := tinyCheckpoint(t, "hybrid")
	trace := filepath.Join(t.TempDir(), "run.jsonl")
	status, stdout, stderr := run("generate", "--model", model, "--backend", "cpu", "--prompt", "The [MASK:4] sat on the mat.",
		"--length", "6", "--steps", "5", "--seed", "3", "--trace", trace)
	if status != 0 {
		t.Fatalf("generate failed: %s", stderr)
	}
	if !strings.HasPrefix(stdout, "The") || !strings.Contains(stdout, " sat on the mat.") {
		t.Fatalf("output %q lost the fixed text", stdout)
	}
	tr, err := engine.ReadTraceFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Panes[0]
	if len(h.Events) == 0 || !h.Events[len(h.Events)-1].Done || tr.Header.Options.Steps != 5 {
		t.Fatalf("trace has %d events, header %+v", len(h.Events), tr.Header.Options)
	}
	if final := h.CanvasAt(len(h.Events)); final.Masked(h.Mask) != 0 {
		t.Fatal("trace ends with masks")
	}
	// Same seed, same text; the existing trace is refused without --force.
	_, again, _ := run("generate", "--model", model, "--backend", "cpu", "--prompt", "The [MASK:4] sat on the mat.",
		"--length", "6", "--steps", "5", "--seed", "3")
	if again != stdout {
		t.Fatalf("same seed gave %q then %q", stdout, again)
	}
	before, _ := os.ReadFile(trace)
	oneLineError(t, "already exists", "generate", "--model", model, "--trace", trace)
	if after, _ := os.ReadFile(trace); !bytes.Equal(before, after) {
		t.Fatal("refused run changed the existing trace")
	}
}

func TestGenerateOnDefaultModel(t *testing.T) {
	status, stdout, stderr := run("generate", "--backend", "cpu", "--prompt", "Once upon a time", "--length", "8", "--steps", "4")
	if status != 0 || !strings.HasPrefix(stdout, "Once upon a time") {
		t.Fatalf("status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
}

func TestCommandErrorsAreOneLine(t *testing.T) {
	model := tinyCheckpoint(t, "mamba")
	corrupt := filepath.Join(t.TempDir(), "corrupt.safetensors")
	data, _ := os.ReadFile(model)
	os.WriteFile(corrupt, data[:len(data)/2], 0o644)
	existing := filepath.Join(t.TempDir(), "keep.safetensors")
	os.WriteFile(existing, []byte("user data"), 0o644)

	oneLineError(t, "unknown command", "frobnicate")
	oneLineError(t, "not defined: -bogus", "generate", "--bogus")
	oneLineError(t, "unknown sampler", "generate", "--sampler", "nope")
	oneLineError(t, "unknown schedule", "generate", "--schedule", "nope")
	oneLineError(t, "--backend", "generate", "--backend", "tpu")
	oneLineError(t, "steps must be", "generate", "--steps", "0")
	oneLineError(t, "no such file", "generate", "--model", "/nonexistent/model.safetensors")
	oneLineError(t, "corrupt.safetensors", "generate", "--model", corrupt, "--backend", "cpu")
	oneLineError(t, "longer than the model's context", "generate", "--model", model, "--length", "70000", "--backend", "cpu")
	oneLineError(t, "unexpected argument", "generate", "stray")
	oneLineError(t, "already exists", "init", "--out", existing)
	oneLineError(t, "unknown preset", "init", "--preset", "7b", "--out", filepath.Join(t.TempDir(), "x"))
	oneLineError(t, "unknown backbone", "init", "--backbone", "rwkv", "--out", filepath.Join(t.TempDir(), "x"))
	oneLineError(t, "--out is required", "init")
	oneLineError(t, "GPU backend not built", "generate", "--backend", "gpu", "--model", model)
	if b, _ := os.ReadFile(existing); string(b) != "user data" {
		t.Fatal("refused init damaged the existing file")
	}
}

func TestHelpListsEveryFlagWithDefault(t *testing.T) {
	status, stdout, _ := run("generate", "--help")
	if status != 0 {
		t.Fatal("--help failed")
	}
	for _, flag := range []string{"-model", "-prompt", "-length", "-steps", "-schedule", "-sampler", "-temperature",
		"-top-k", "-top-p", "-threshold", "-block-length", "-seed", "-backend", "-trace"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("generate --help does not list %s", flag)
		}
	}
	if !strings.Contains(stdout, `(default "ancestral")`) || !strings.Contains(stdout, "(default 64)") {
		t.Errorf("generate --help does not show defaults:\n%s", stdout)
	}
}

func TestBenchPrintsTable(t *testing.T) {
	status, stdout, stderr := run("bench", "--backend", "cpu", "--lengths", "16", "--repeat", "1", "--backbones", "mamba,transformer")
	if status != 0 {
		t.Fatal(stderr)
	}
	for _, want := range []string{"ms/step", "tiny", "mamba", "transformer", " 16 "} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("bench output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestTokenizeSplitsAndThins(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		f, _ := os.Create(filepath.Join(dir, name))
		gz := gzip.NewWriter(f)
		gz.Write([]byte(text))
		gz.Close()
		f.Close()
	}
	doc := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)
	write("a.txt.gz", doc+"\n<|endoftext|>\n"+doc+"\n")
	write("x_b.txt.gz", doc+"\n")
	out, val := filepath.Join(dir, "train.u16"), filepath.Join(dir, "val.u16")
	status, stdout, stderr := run("tokenize", "--data", dir, "--out", out, "--val-out", val, "--x-weight", "0.5", "--val-fraction", "0.1")
	if status != 0 {
		t.Fatal(stderr)
	}
	read := func(p string) []uint16 {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]uint16, len(b)/2)
		binary.Read(bytes.NewReader(b), binary.LittleEndian, ids)
		return ids
	}
	train, valIDs := read(out), read(val)
	tok, err := tokenizer.GPT2()
	if err != nil {
		t.Fatal(err)
	}
	perDoc := len(tok.Encode(doc)) + 1 // text plus the end-of-text id
	full := 2*perDoc + perDoc/2
	if len(train)+len(valIDs) != full {
		t.Fatalf("got %d tokens in all, want %d (%s)", len(train)+len(valIDs), full, stdout)
	}
	if train[perDoc-1] != 50256 || len(valIDs) == 0 {
		t.Fatalf("documents not separated by 50256 or no validation split")
	}
	oneLineError(t, "already exists", "tokenize", "--data", dir, "--out", out, "--val-out", val)
	oneLineError(t, "corpus directory", "tokenize", "--data", filepath.Join(dir, "missing"), "--out", out+"2", "--val-out", val+"2")
}

func TestExportGIFAndHTMLFromTrace(t *testing.T) {
	model := tinyCheckpoint(t, "transformer")
	dir := t.TempDir()
	trace := filepath.Join(dir, "run.jsonl")
	if status, _, stderr := run("generate", "--model", model, "--backend", "cpu", "--length", "8", "--steps", "4", "--trace", trace); status != 0 {
		t.Fatal(stderr)
	}
	tr, err := engine.ReadTraceFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	gifPath, htmlPath := filepath.Join(dir, "run.gif"), filepath.Join(dir, "run.html")
	if status, _, stderr := run("export", trace, "--gif", gifPath, "--html", htmlPath, "--fps", "10"); status != 0 {
		t.Fatal(stderr)
	}
	f, err := os.Open(gifPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anim, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(tr.Panes[0].Events) + 1; len(anim.Image) != want {
		t.Fatalf("GIF has %d frames, want %d", len(anim.Image), want)
	}
	page, _ := os.ReadFile(htmlPath)
	if !bytes.Contains(page, []byte("<html")) || bytes.Contains(page, []byte("http://")) {
		t.Fatal("HTML page is not a self-contained page")
	}
	oneLineError(t, "already exists", "export", "--gif", gifPath, trace)
	oneLineError(t, "exactly one TRACE", "export", "--gif", gifPath)
	oneLineError(t, "not a trace header", "export", "--html", filepath.Join(dir, "x.html"), model)
}
