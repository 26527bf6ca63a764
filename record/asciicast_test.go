package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type castEvent struct {
	t    float64
	code string
	data string
}

// parseCast checks an asciicast v2 file line by line: a JSON header, then
// JSON arrays [number, string, string] with non-decreasing times.
func parseCast(t *testing.T, data []byte) (CastHeader, []castEvent) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() {
		t.Fatal("empty asciicast")
	}
	var h CastHeader
	dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("header %q: %v", sc.Text(), err)
	}
	var events []castEvent
	last := 0.0
	for sc.Scan() {
		var raw []json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil || len(raw) != 3 {
			t.Fatalf("event line %q is not a 3-element JSON array (%v)", sc.Text(), err)
		}
		var ev castEvent
		if json.Unmarshal(raw[0], &ev.t) != nil || json.Unmarshal(raw[1], &ev.code) != nil || json.Unmarshal(raw[2], &ev.data) != nil {
			t.Fatalf("event line %q has wrong element types", sc.Text())
		}
		if ev.t < last {
			t.Fatalf("time %v after %v: not monotonic", ev.t, last)
		}
		last = ev.t
		events = append(events, ev)
	}
	return h, events
}

func TestCastHeaderAndEvents(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("SHELL", "/bin/bash")
	var buf bytes.Buffer
	c, err := NewCast(&buf, 100, 30, "demo")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("\x1b[2J\x1b[Hhello"))
	time.Sleep(5 * time.Millisecond)
	c.Resize(80, 24)
	c.Marker("step 3")
	c.Write([]byte("world\r\n"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	h, events := parseCast(t, buf.Bytes())
	if h.Version != 2 || h.Width != 100 || h.Height != 30 || h.Title != "demo" || h.Timestamp == 0 ||
		h.Env["TERM"] != "xterm-256color" || h.Env["SHELL"] != "/bin/bash" {
		t.Fatalf("header %+v", h)
	}
	want := []castEvent{{code: "o", data: "\x1b[2J\x1b[Hhello"}, {code: "r", data: "80x24"}, {code: "m", data: "step 3"}, {code: "o", data: "world\r\n"}}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d", len(events), len(want))
	}
	for i, w := range want {
		if events[i].code != w.code || events[i].data != w.data {
			t.Errorf("event %d = %q %q, want %q %q", i, events[i].code, events[i].data, w.code, w.data)
		}
	}
	if events[1].t < 0.005 {
		t.Errorf("event after a 5ms sleep stamped %v", events[1].t)
	}
}

func TestCastTimesNeverDecrease(t *testing.T) {
	var buf bytes.Buffer
	c, _ := NewCast(&buf, 80, 24, "")
	clock := []time.Duration{3 * time.Second, 1 * time.Second, 2 * time.Second, 5 * time.Second}
	c.since = func(time.Time) time.Duration { d := clock[0]; clock = clock[1:]; return d }
	for range 4 {
		c.Write([]byte("x"))
	}
	_, events := parseCast(t, buf.Bytes()) // fails on a decreasing time
	if events[1].t != 3 || events[3].t != 5 {
		t.Fatalf("times %v", events)
	}
}

func TestCastHoldsSplitCharacters(t *testing.T) {
	var buf bytes.Buffer
	c, _ := NewCast(&buf, 80, 24, "")
	smile := []byte("é🙂")
	for _, b := range smile {
		c.Write([]byte{b})
	}
	c.Write([]byte{0xf0, 0x9f}) // dangling at Close
	c.Close()
	_, events := parseCast(t, buf.Bytes())
	var got strings.Builder
	for _, ev := range events {
		got.WriteString(ev.data)
	}
	if got.String() != "é🙂\uFFFD" {
		t.Fatalf("recorded %q", got.String())
	}
}

func TestCastRejectsBadSize(t *testing.T) {
	if _, err := NewCast(&bytes.Buffer{}, 0, 24, ""); err == nil {
		t.Fatal("accepted width 0")
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("device gone")
	}
	f.after--
	return len(p), nil
}

func TestCastErrorSticks(t *testing.T) {
	c, err := NewCast(&failingWriter{after: 1}, 80, 24, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("a")); err == nil {
		t.Fatal("write error lost")
	}
	if err := c.Resize(1, 1); err == nil {
		t.Fatal("later call succeeded after an error")
	}
}

// terminal is a file standing in for the tty.
func terminal(t *testing.T) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tty")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

func TestTapRecordsOnlyWhileStarted(t *testing.T) {
	tty, ttyPath := terminal(t)
	tap := NewTap(tty, func(err error) { t.Errorf("unexpected failure: %v", err) })
	dir := t.TempDir()
	cast := filepath.Join(dir, "demo.cast")
	tap.Write([]byte("before "))
	if err := tap.Start(cast, false, 80, 24, "t"); err != nil {
		t.Fatal(err)
	}
	if err := tap.Start(cast, false, 80, 24, "t"); err == nil {
		t.Fatal("second Start accepted")
	}
	if p, ok := tap.Recording(); !ok || p != cast {
		t.Fatalf("Recording() = %q %v", p, ok)
	}
	if _, err := os.Stat(cast); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("recording visible before Stop")
	}
	var wg sync.WaitGroup
	for i := range 4 { // the renderer and the update loop write concurrently
		wg.Add(1)
		go func() { defer wg.Done(); tap.Write([]byte{'a' + byte(i)}) }()
	}
	wg.Wait()
	tap.Resize(90, 30)
	if p, err := tap.Stop(); err != nil || p != cast {
		t.Fatalf("Stop = %q, %v", p, err)
	}
	tap.Write([]byte(" after"))
	if _, err := tap.Stop(); err == nil {
		t.Fatal("Stop without a recording succeeded")
	}
	screen, _ := os.ReadFile(ttyPath)
	if len(screen) != len("before ")+4+len(" after") {
		t.Fatalf("terminal got %q", screen)
	}
	data, _ := os.ReadFile(cast)
	h, events := parseCast(t, data)
	if h.Width != 80 || h.Height != 24 || len(events) != 5 || events[4].data != "90x30" {
		t.Fatalf("header %+v events %+v", h, events)
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %v", names)
	}
	// Recording again to the same name needs force.
	if err := tap.Start(cast, false, 80, 24, ""); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Start over an existing file: %v", err)
	}
}

// A recording whose file cannot be written stops, removes its temp file,
// tells the UI once, and the terminal keeps receiving output.
func TestTapFailureKeepsTerminal(t *testing.T) {
	tty, ttyPath := terminal(t)
	var failures []error
	tap := NewTap(tty, func(err error) { failures = append(failures, err) })
	dir := t.TempDir()
	if err := tap.Start(filepath.Join(dir, "x.cast"), false, 80, 24, ""); err != nil {
		t.Fatal(err)
	}
	tap.cast.w = &failingWriter{} // the file becomes unwritable, as on a full disk
	big := bytes.Repeat([]byte("z"), 2<<20)
	if n, err := tap.Write(big); n != len(big) || err != nil {
		t.Fatalf("terminal write failed: %d %v", n, err)
	}
	tap.Write([]byte("more"))
	if len(failures) != 1 || !strings.HasPrefix(failures[0].Error(), "recording stopped: cannot write") {
		t.Fatalf("failures %v", failures)
	}
	if _, ok := tap.Recording(); ok {
		t.Fatal("still recording after a failure")
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("temp file left: %v", names)
	}
	if info, _ := os.Stat(ttyPath); info.Size() != int64(len(big)+4) {
		t.Errorf("terminal got %d bytes", info.Size())
	}
}

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
