package record

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"diffuapriel/atomicfile"
)

// Tap stands between a TUI and its terminal: everything written to it goes
// to the terminal, and, while a recording runs, also into an asciicast file.
// It implements Read, Write, Close and Fd like the terminal file it wraps,
// so Bubble Tea (tea.WithOutput) still treats it as a terminal and sizes and
// resizes the screen as usual.
//
// A recording that fails (full disk, removed directory) stops by itself: its
// temporary file is removed, the terminal keeps working, and onFail is told.
type Tap struct {
	term   *os.File
	onFail func(error)

	mu   sync.Mutex
	file *atomicfile.File
	cast *Cast
}

// NewTap wraps a terminal (usually os.Stdout). onFail, if not nil, is called
// from the writing goroutine when a recording stops because of an error; it
// must not block (a Bubble Tea program can `go p.Send(msg)`).
func NewTap(term *os.File, onFail func(error)) *Tap {
	return &Tap{term: term, onFail: onFail}
}

// Start begins recording to path (an asciicast v2 file) for a width x height
// terminal. The file appears at path only when Stop succeeds. Output written
// before Start is not in the recording, so the caller should repaint the
// whole screen right after (in Bubble Tea: return tea.ClearScreen).
func (t *Tap) Start(path string, force bool, width, height int, title string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file != nil {
		return errors.New("already recording to " + t.file.Name())
	}
	f, err := atomicfile.Create(path, force)
	if err != nil {
		return err
	}
	cast, err := NewCast(f, width, height, title)
	if err != nil {
		f.Abort()
		return err
	}
	t.file, t.cast = f, cast
	return nil
}

// Stop ends the recording and moves the file into place, returning its path.
func (t *Tap) Stop() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		return "", errors.New("not recording")
	}
	f, cast := t.file, t.cast
	t.file, t.cast = nil, nil
	if err := cast.Close(); err != nil {
		f.Abort()
		return "", err
	}
	return f.Name(), f.Commit()
}

// Recording returns the destination of the recording in progress.
func (t *Tap) Recording() (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		return "", false
	}
	return t.file.Name(), true
}

// Resize records a terminal resize; a no-op when not recording.
func (t *Tap) Resize(width, height int) {
	t.mu.Lock()
	var err error
	if t.cast != nil {
		err = t.drop(t.cast.Resize(width, height))
	}
	t.mu.Unlock()
	t.report(err)
}

// Write sends p to the terminal and, while recording, to the recording. A
// recording error never reaches the TUI: it ends the recording instead.
func (t *Tap) Write(p []byte) (int, error) {
	n, err := t.term.Write(p)
	t.mu.Lock()
	var cerr error
	if t.cast != nil && n > 0 {
		_, cerr = t.cast.Write(p[:n])
		cerr = t.drop(cerr)
	}
	t.mu.Unlock()
	t.report(cerr)
	return n, err
}

// drop abandons the recording after an error (t.mu is held) and returns the
// error to report once the lock is released.
func (t *Tap) drop(err error) error {
	if err == nil {
		return nil
	}
	name := t.file.Name()
	t.file.Abort()
	t.file, t.cast = nil, nil
	var we *atomicfile.WriteError
	if errors.As(err, &we) {
		return fmt.Errorf("recording stopped: %v", err)
	}
	return fmt.Errorf("recording stopped: cannot write %s: %v", name, err)
}

func (t *Tap) report(err error) {
	if err != nil && t.onFail != nil {
		t.onFail(err)
	}
}

// Read reads from the wrapped terminal.
func (t *Tap) Read(p []byte) (int, error) { return t.term.Read(p) }

// Fd is the wrapped terminal's descriptor.
func (t *Tap) Fd() uintptr { return t.term.Fd() }

// Close abandons a recording still running. The terminal itself belongs to
// the caller and stays open.
func (t *Tap) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file != nil {
		t.file.Abort()
		t.file, t.cast = nil, nil
	}
	return nil
}
