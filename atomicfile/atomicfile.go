// Package atomicfile writes files so that a reader or a crash sees either
// the old file or the complete new one, never a mix: the data goes to a
// temporary file beside the destination, is synced, and is then moved into
// place. An existing file is never replaced without force, and every
// failure is one line naming the path and the cause. Every file the project
// writes (checkpoints, traces, token files, recordings, exports) goes
// through it.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// File is a file being written under a temporary name next to its
// destination. Commit makes it appear at the destination; Abort (or a failed
// Commit) removes it. Writes are buffered.
type File struct {
	path  string
	force bool
	tmp   *os.File
	buf   *bufio.Writer
	done  bool
}

// CreateAtomic starts writing path. Without force it refuses at once when
// path already exists, so a long recording never ends in a refusal. Errors
// are one line naming the path and the cause (missing directory, permission,
// read-only or full filesystem).
func Create(path string, force bool) (*File, error) {
	if path == "" {
		return nil, errors.New("no output file given")
	}
	if err := Check(path, force); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, describe(path, err)
	}
	return &File{path: path, force: force, tmp: tmp, buf: bufio.NewWriterSize(tmp, 1<<20)}, nil
}

// Name is the destination path.
func (f *File) Name() string { return f.path }

// Write buffers p for the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("write %s: file already committed or aborted", f.path)
	}
	n, err := f.buf.Write(p)
	if err != nil {
		return n, describe(f.path, err)
	}
	return n, nil
}

// Flush pushes buffered bytes to the temporary file, so a crash loses at most
// what was written since (a streaming trace flushes after every record).
func (f *File) Flush() error {
	if f.done {
		return nil
	}
	if err := f.buf.Flush(); err != nil {
		return describe(f.path, err)
	}
	return nil
}

// Commit flushes, syncs and renames the temporary file to the destination.
// Without force, a destination created meanwhile is not replaced either: the
// file is linked into place, which fails if the name exists. On any error
// the temporary file is removed and an existing destination is untouched.
func (f *File) Commit() (err error) {
	if f.done {
		return fmt.Errorf("commit %s: file already committed or aborted", f.path)
	}
	f.done = true
	tmpName := f.tmp.Name()
	defer func() {
		if err != nil {
			f.tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := f.buf.Flush(); err != nil {
		return describe(f.path, err)
	}
	if err := f.tmp.Chmod(0o644); err != nil {
		return describe(f.path, err)
	}
	if err := f.tmp.Sync(); err != nil {
		return describe(f.path, err)
	}
	if err := f.tmp.Close(); err != nil {
		return describe(f.path, err)
	}
	if err := f.place(tmpName); err != nil {
		return err
	}
	// Persist the rename itself; not every filesystem can sync a directory.
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// place moves the finished temporary file to the destination.
func (f *File) place(tmpName string) error {
	if f.force {
		if err := os.Rename(tmpName, f.path); err != nil {
			return describe(f.path, err)
		}
		return nil
	}
	err := os.Link(tmpName, f.path)
	switch {
	case err == nil:
		os.Remove(tmpName)
		return nil
	case errors.Is(err, fs.ErrExist):
		return existsError(f.path)
	}
	// No hard links on this filesystem: check, then rename (a tiny race
	// remains only where links are unsupported).
	if err := Check(f.path, false); err != nil {
		return err
	}
	if err := os.Rename(tmpName, f.path); err != nil {
		return describe(f.path, err)
	}
	return nil
}

// Abort discards the temporary file; the destination is untouched. It is
// safe to call after Commit (it does nothing then), so `defer f.Abort()`
// cleans up every early return.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// WriteFile writes path with write's output, atomically: if write
// fails, or the disk fills, nothing is left behind and an existing file is
// unchanged. Without force an existing path is refused.
func WriteFile(path string, force bool, write func(io.Writer) error) error {
	f, err := Create(path, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		var we *WriteError
		if errors.As(err, &we) {
			return err
		}
		return fmt.Errorf("write %s: %v", path, err)
	}
	return f.Commit()
}

// Check refuses an existing path without force, and a directory, a
// non-regular file or a missing parent directory always: what Create would
// refuse, for commands that check every output before doing any work.
func Check(path string, force bool) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		if d, err := os.Stat(dir); err != nil {
			return describe(path, err)
		} else if !d.IsDir() {
			return &WriteError{Path: path, Cause: dir + " is not a directory", Err: syscall.ENOTDIR}
		}
		return nil
	case err != nil:
		return describe(path, err)
	case info.IsDir():
		return &WriteError{Path: path, Cause: "it is a directory", Err: syscall.EISDIR}
	case !info.Mode().IsRegular():
		return &WriteError{Path: path, Cause: "it is not a regular file", Err: fs.ErrInvalid}
	case !force:
		return existsError(path)
	}
	return nil
}

// existsError matches errors.Is(err, fs.ErrExist), so a UI can offer to
// overwrite.
func existsError(path string) error {
	return &WriteError{Path: path, Cause: "it already exists (pass --force to overwrite it)", Err: fs.ErrExist}
}

// WriteError is a failure to write a file, said in one line with the path
// and the cause (for example "cannot write out.gif: the disk is full").
type WriteError struct {
	Path  string
	Cause string
	Err   error // the underlying OS error
}

func (e *WriteError) Error() string { return "cannot write " + e.Path + ": " + e.Cause }
func (e *WriteError) Unwrap() error { return e.Err }

// describe turns an OS error into one line that says what to do about it.
func describe(path string, err error) error {
	orig := err
	var cause string
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		cause = "the disk is full"
	case errors.Is(err, syscall.EFBIG):
		cause = "the file is too large for the filesystem or the file size limit"
	case errors.Is(err, syscall.EROFS):
		cause = "the filesystem is read-only"
	case errors.Is(err, fs.ErrPermission):
		cause = "permission denied"
	case errors.Is(err, fs.ErrNotExist):
		cause = "directory " + filepath.Dir(path) + " does not exist"
	case errors.Is(err, syscall.ENOTDIR):
		cause = "a parent of it is not a directory"
	case errors.Is(err, syscall.ENAMETOOLONG):
		cause = "the name is too long"
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		cause = err.Error()
	}
	return &WriteError{Path: path, Cause: cause, Err: orig}
}
