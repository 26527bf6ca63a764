//go:build unix

package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A write that runs out of space (here: the file size limit, which fails
// writes the way a full disk does) must leave the original file and no temp
// file. It runs in a child process because the limit is process-wide.
func TestFullDiskKeepsOriginal(t *testing.T) {
	if path := os.Getenv("RECORD_FULL_DISK_CHILD"); path != "" {
		signal.Ignore(syscall.SIGXFSZ)
		limit := syscall.Rlimit{Cur: 64 << 10, Max: 64 << 10}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
			fmt.Println("SETRLIMIT", err)
			os.Exit(0)
		}
		err := WriteFile(path, true, func(w io.Writer) error {
			_, err := w.Write(bytes.Repeat([]byte("y"), 4<<20))
			return err
		})
		fmt.Println("RESULT", err)
		os.Exit(0)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.jsonl")
	os.WriteFile(path, []byte("original"), 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFullDiskKeepsOriginal$")
	cmd.Env = append(os.Environ(), "RECORD_FULL_DISK_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "SETRLIMIT") {
		t.Skipf("cannot limit file size here: %s", out)
	}
	if !strings.Contains(string(out), "RESULT cannot write "+path+": the file is too large") {
		t.Fatalf("child reported %q, want a one-line 'too large' error", out)
	}
	if got, _ := os.ReadFile(path); string(got) != "original" {
		t.Fatalf("original changed: %q", got[:min(len(got), 20)])
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("temp file left: %v", names)
	}
}
