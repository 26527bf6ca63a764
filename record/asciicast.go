// Package record records the playground's screen as an asciicast v2 file
// that `asciinema play` accepts: a Tap stands between the TUI and the
// terminal, and a Cast timestamps what passes through it.
package record

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// CastHeader is the first line of an asciicast v2 file
// (https://docs.asciinema.org/manual/asciicast/v2/).
type CastHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// Cast writes terminal output as asciicast v2 events: a header line, then one
// JSON array [seconds, code, data] per write, with times measured on the
// monotonic clock from the header and never decreasing. It is safe for
// concurrent use (a TUI renders on one goroutine and resizes on another).
type Cast struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	since   func(time.Time) time.Duration
	last    float64
	pending []byte // an incomplete UTF-8 sequence held for the next write
	err     error
}

// NewCast writes the header for a width x height terminal. The header's env
// carries TERM and SHELL as asciinema records them.
func NewCast(w io.Writer, width, height int, title string) (*Cast, error) {
	if width < 1 || height < 1 {
		return nil, fmt.Errorf("asciicast: terminal size %dx%d, want at least 1x1", width, height)
	}
	start := time.Now()
	h := CastHeader{Version: 2, Width: width, Height: height, Timestamp: start.Unix(), Title: title,
		Env: map[string]string{"TERM": os.Getenv("TERM"), "SHELL": os.Getenv("SHELL")}}
	line, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("asciicast header: %v", err)
	}
	c := &Cast{w: w, start: start, since: time.Since}
	if err := c.writeLine(line); err != nil {
		return nil, err
	}
	return c, nil
}

// Write records p as an output ("o") event. A UTF-8 character split across
// writes is held back until it is complete, as the format stores text.
func (c *Cast) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	data := append(c.pending, p...)
	cut := completePrefix(data)
	c.pending = append([]byte(nil), data[cut:]...)
	if cut == 0 {
		return len(p), nil
	}
	if err := c.event("o", string(data[:cut])); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Resize records a terminal resize ("r") event.
func (c *Cast) Resize(width, height int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.event("r", strconv.Itoa(width)+"x"+strconv.Itoa(height))
}

// Marker records a marker ("m") event, a point `asciinema play` can jump to.
func (c *Cast) Marker(label string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.event("m", label)
}

// Close writes any held partial character (as U+FFFD) and flushes the
// destination if it buffers; it does not close the destination.
func (c *Cast) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 {
		c.pending = nil
		if err := c.event("o", string(utf8.RuneError)); err != nil {
			return err
		}
	}
	if f, ok := c.w.(interface{ Flush() error }); ok && c.err == nil {
		c.err = f.Flush()
	}
	return c.err
}

// event writes one event line; the first error sticks and is returned by
// every later call.
func (c *Cast) event(code, data string) error {
	if c.err != nil {
		return c.err
	}
	t := max(c.since(c.start).Seconds(), c.last)
	c.last = t
	text, err := json.Marshal(data)
	if err != nil {
		c.err = err
		return err
	}
	line := make([]byte, 0, len(text)+24)
	line = append(line, '[')
	line = strconv.AppendFloat(line, t, 'f', 6, 64)
	line = append(line, `, "`...)
	line = append(line, code...)
	line = append(line, `", `...)
	line = append(line, text...)
	line = append(line, ']')
	return c.writeLine(line)
}

func (c *Cast) writeLine(line []byte) error {
	if _, err := c.w.Write(append(line, '\n')); err != nil {
		c.err = err
		return err
	}
	return nil
}

// completePrefix is the length of the longest prefix of b that does not end
// inside a UTF-8 character that more bytes could still complete.
func completePrefix(b []byte) int {
	for back := 1; back <= min(len(b), utf8.UTFMax-1); back++ {
		i := len(b) - back
		if !utf8.RuneStart(b[i]) {
			continue
		}
		if !utf8.FullRune(b[i:]) {
			return i
		}
		break
	}
	return len(b)
}
