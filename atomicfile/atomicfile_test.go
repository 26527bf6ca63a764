package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// dirEntries lists a directory's names, to catch temp files left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestWriteFileAtomicCreates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := WriteFile(path, false, writeString("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "hello" {
		t.Fatalf("read back %q, %v", got, err)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %v, want only out.txt", names)
	}
}

func TestWriteFileAtomicRefusesExistingWithoutForce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.txt")
	os.WriteFile(path, []byte("original"), 0o644)
	called := false
	err := WriteFile(path, false, func(w io.Writer) error { called = true; return nil })
	if err == nil || !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want an 'exists, pass --force' error", err)
	}
	if called {
		t.Error("write ran although the destination exists")
	}
	if got, _ := os.ReadFile(path); string(got) != "original" {
		t.Fatalf("existing file changed to %q", got)
	}
	if err := WriteFile(path, true, writeString("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Fatalf("force did not replace the file: %q", got)
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %v", names)
	}
}

func TestCommitRefusesFileCreatedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "race.txt")
	f, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "late")
	os.WriteFile(path, []byte("someone else's"), 0o644)
	if err := f.Commit(); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Commit over a file created meanwhile: %v, want an exists error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "someone else's" {
		t.Fatalf("file replaced: %q", got)
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("temp file left: %v", names)
	}
}

func TestFailedWriteLeavesOriginalAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.bin")
	os.WriteFile(path, []byte("original"), 0o644)
	boom := errors.New("renderer failed")
	err := WriteFile(path, true, func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("x", 3<<20)) // past the buffer: bytes reach the temp file
		return boom
	})
	if err == nil || !strings.Contains(err.Error(), "renderer failed") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "original" {
		t.Fatalf("original changed: %q", got[:min(len(got), 20)])
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("temp file left: %v", names)
	}
}

func TestUnwritablePathsGiveOneLineErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o644)
	cases := []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing", "out.gif"), "does not exist"},
		{filepath.Join(plain, "out.gif"), "is not a directory"},
		{dir, "is a directory"},
		{"", "no output file"},
	}
	for _, c := range cases {
		err := WriteFile(c.path, true, writeString("x"))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("WriteFile(%q) = %v, want one line containing %q", c.path, err, c.want)
		}
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: directory permissions are not enforced")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	err := WriteFile(filepath.Join(dir, "out.gif"), false, writeString("x"))
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("err = %v, want permission denied", err)
	}
}

func TestErrorDescriptions(t *testing.T) {
	for errno, want := range map[syscall.Errno]string{
		syscall.ENOSPC: "the disk is full",
		syscall.EROFS:  "the filesystem is read-only",
		syscall.EACCES: "permission denied",
		syscall.EFBIG:  "too large",
	} {
		err := describe("out.gif", &fs.PathError{Op: "write", Path: "/tmp/.out.gif.tmp-1", Err: errno})
		if got := err.Error(); got != "cannot write out.gif: "+want && !strings.Contains(got, want) {
			t.Errorf("%v described as %q, want %q", errno, got, want)
		}
		if !errors.Is(err, errno) {
			t.Errorf("%v lost from the error chain", errno)
		}
	}
}
