package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validTrace writes a short generate trace.
func validTrace(t *testing.T) string {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "run.jsonl")
	status, _, stderr := run("generate", "--model", tinyCheckpoint(t, "mamba"), "--backend", "cpu", "--prompt", "Hello",
		"--length", "6", "--steps", "4", "--trace", trace)
	if status != 0 {
		t.Fatalf("generate: %s", stderr)
	}
	return trace
}

// The replay fails before the screen opens: these run without a terminal.
func TestReplayRefusesMissingAndCorruptTraces(t *testing.T) {
	dir := t.TempDir()
	oneLineError(t, "no such file", "replay", filepath.Join(dir, "missing.jsonl"))

	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	oneLineError(t, "empty file", "replay", write("empty.jsonl", ""))
	oneLineError(t, "not a trace header", "replay", write("garbage.jsonl", "GIF89a\x00\x01binary\n"))

	good, err := os.ReadFile(validTrace(t))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	if len(lines) < 4 {
		t.Fatalf("trace has %d lines", len(lines))
	}
	truncated := strings.Join(lines[:2], "") + lines[2][:len(lines[2])/2] + "\n"
	oneLineError(t, "line 3", "replay", write("truncated.jsonl", truncated))
	skipped := lines[0] + strings.Join(lines[2:], "")
	oneLineError(t, "does not follow", "replay", write("skipped.jsonl", skipped))
	oneLineError(t, "is a directory", "replay", dir)
}

func TestReplayUsageErrors(t *testing.T) {
	status, _, stderr := run("replay")
	if status != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "one trace file") {
		t.Fatalf("replay without a file: status %d, %q", status, stderr)
	}
	status, _, stderr = run("replay", "a.jsonl", "b.jsonl")
	if status != 2 || !strings.Contains(stderr, "one trace file") {
		t.Fatalf("replay with two files: status %d, %q", status, stderr)
	}
	oneLineError(t, "unknown theme", "replay", validTrace(t), "--theme", "sepia")
}

func TestRecordAndTraceFlagsNeverOverwrite(t *testing.T) {
	trace := validTrace(t)
	existing := filepath.Join(t.TempDir(), "old.cast")
	if err := os.WriteFile(existing, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	oneLineError(t, "--record", "replay", trace, "--record", existing)
	oneLineError(t, "--record", "play", "--record", existing)
	oneLineError(t, "--trace", "play", "--trace", existing)
	oneLineError(t, "does not exist", "play", "--trace", filepath.Join(t.TempDir(), "missing", "run.jsonl"))
	if data, _ := os.ReadFile(existing); string(data) != "keep" {
		t.Fatal("an existing file was changed")
	}
}
