//go:build unix

package record

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAsciinemaPlaysRecording replays a recording with asciinema itself
// (under script(1), which gives it the terminal it insists on) and expects
// back exactly the bytes that were written. It skips without asciinema.
func TestAsciinemaPlaysRecording(t *testing.T) {
	player, err := exec.LookPath("asciinema")
	if err != nil {
		t.Skip("asciinema not found on PATH: skipping the playback check")
	}
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) not found on PATH: asciinema needs a terminal")
	}
	tty, _ := terminal(t)
	tap := NewTap(tty, func(err error) { t.Error(err) })
	path := filepath.Join(t.TempDir(), "demo.cast")
	if err := tap.Start(path, false, 80, 24, "demo"); err != nil {
		t.Fatal(err)
	}
	chunks := []string{"\x1b[2J\x1b[H", "diffusion ", "\xc3", "\xa9 ", "\xf0\x9f", "\x99\x82\r\n", "\x1b[1mdone\x1b[0m\r\n"}
	for _, c := range chunks {
		tap.Write([]byte(c))
	}
	tap.Resize(100, 30)
	if _, err := tap.Stop(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(scriptCmd, "-qec", player+" play -s 100 "+path, "/dev/null")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("asciinema play failed: %v\n%s", err, out)
	}
	if want := strings.Join(chunks, ""); string(out) != want {
		t.Fatalf("asciinema played %q, want %q", out, want)
	}
}
