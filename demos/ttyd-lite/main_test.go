package main

// Tests of what VHS (v0.10.0) relies on: the options it passes (tty.go,
// buildTtyCmd), `ttyd --version` (main.go, getVersion: at least 1.7.2), the
// page at / exposing window.term, and the websocket protocol that page speaks.
// They need assets/index.html, which build.sh assembles (and then runs them).

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// vhsPrefs are the -t options VHS passes, as the page must receive them.
var vhsPrefs = map[string]any{
	"rendererType":         "canvas",
	"disableResizeOverlay": true,
	"enableSixel":          true,
	"customGlyphs":         true,
}

// vhsArgs is VHS v0.10.0's ttyd command line (tty.go) before the shell's command.
func vhsArgs(port string) []string {
	return []string{
		"--port=" + port,
		"--interface", "127.0.0.1",
		"-t", "rendererType=canvas",
		"-t", "disableResizeOverlay=true",
		"-t", "enableSixel=true",
		"-t", "customGlyphs=true",
		"--once",
		"--writable",
	}
}

func TestParseArgs(t *testing.T) {
	vhsBash := []string{"bash", "--noprofile", "--norc", "--login", "+o", "history"} // VHS's bash shell
	tests := []struct {
		name string
		args []string
		want config
	}{
		{
			name: "VHS v0.10.0, bash",
			args: append(vhsArgs("7777"), vhsBash...),
			want: config{port: 7777, iface: "127.0.0.1", prefs: vhsPrefs, termType: "xterm-256color",
				once: true, writable: true, command: vhsBash},
		},
		{
			name: "VHS options, separate values",
			args: []string{"--port", "0", "--interface", "127.0.0.1",
				"-t", "rendererType=canvas", "-t", "disableResizeOverlay=true",
				"-t", "enableSixel=true", "-t", "customGlyphs=true",
				"--once", "--writable", "bash", "--login"},
			want: config{port: 0, iface: "127.0.0.1", prefs: vhsPrefs, termType: "xterm-256color",
				once: true, writable: true, command: []string{"bash", "--login"}},
		},
		{
			name: "defaults",
			args: []string{"sh"},
			want: config{port: 7681, prefs: map[string]any{}, termType: "xterm-256color", command: []string{"sh"}},
		},
		{
			name: "short options, attached values, typed client options",
			args: []string{"-p8080", "-i", "::1", "-t", "fontSize=13", "-t", "title=a b", "-T", "xterm",
				"-w", "/tmp", "-W", "-o", "-q", "-d", "7", "--", "-cmd", "-x"},
			want: config{port: 8080, iface: "::1", prefs: map[string]any{"fontSize": 13.0, "title": "a b"},
				termType: "xterm", cwd: "/tmp", writable: true, once: true, exitNoConn: true, debug: true,
				command: []string{"-cmd", "-x"}},
		},
		{
			name: "long options with =",
			args: []string{"--client-option=fontFamily=DejaVu Sans Mono", "--terminal-type=vt100", "--cwd=/", "top"},
			want: config{port: 7681, prefs: map[string]any{"fontFamily": "DejaVu Sans Mono"}, termType: "vt100",
				cwd: "/", command: []string{"top"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args)
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("parseArgs(%q)\n got %+v\nwant %+v", tc.args, *got, tc.want)
			}
		})
	}
}

func TestParseArgsPrint(t *testing.T) {
	versionRe := regexp.MustCompile(`\d+\.\d+\.\d+`) // VHS's versionRegex
	for _, args := range [][]string{{"--version"}, {"-v"}, {"--port", "1", "--version", "--bogus"}} {
		c, err := parseArgs(args)
		if err != nil {
			t.Fatalf("parseArgs(%q): %v", args, err)
		}
		v := versionRe.FindString(c.print)
		if !strings.HasPrefix(c.print, "ttyd version ") || !atLeast(v, 1, 7, 2) {
			t.Errorf("parseArgs(%q).print = %q: want `ttyd version X.Y.Z`, X.Y.Z >= 1.7.2 (VHS's minimum)", args, c.print)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h", "sh"}} {
		c, err := parseArgs(args)
		if err != nil || c.print != usage {
			t.Errorf("parseArgs(%q) = print %q, err %v; want the usage text", args, c.print, err)
		}
	}
	if c, err := parseArgs([]string{"sh"}); err != nil || c.print != "" {
		t.Errorf("parseArgs([sh]) = print %q, err %v; want nothing to print", c.print, err)
	}
}

// atLeast reports whether the version "a.b.c" is at least x.y.z.
func atLeast(v string, x, y, z int) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	var n [3]int
	for i, p := range parts {
		var err error
		if n[i], err = strconv.Atoi(p); err != nil {
			return false
		}
	}
	want := [3]int{x, y, z}
	for i := range n {
		if n[i] != want[i] {
			return n[i] > want[i]
		}
	}
	return true
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--bogus", "sh"}, "unknown option --bogus"},
		{[]string{"-x", "sh"}, "unknown option -x"},
		{[]string{"-Wo", "sh"}, "unknown option -Wo"}, // no bundled short options
		{[]string{}, "no command given"},
		{[]string{"--once", "--writable"}, "no command given"},
		{append(vhsArgs("0"), "--"), "no command given"},
		{[]string{"--port"}, "option --port needs a value"},
		{[]string{"-t"}, "option --client-option needs a value"},
		{[]string{"--port", "http", "sh"}, "invalid port: http"},
		{[]string{"--port=70000", "sh"}, "invalid port: 70000"},
		{[]string{"-p", "-1", "sh"}, "invalid port: -1"},
		{[]string{"-t", "novalue", "sh"}, "invalid client option"},
		{[]string{"-t", "=x", "sh"}, "invalid client option"},
	}
	for _, tc := range tests {
		_, err := parseArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("parseArgs(%q) error = %v, want one containing %q", tc.args, err, tc.wantErr)
		}
	}
}

func TestHTTP(t *testing.T) {
	ts := httptest.NewServer(newServer(&config{prefs: map[string]any{}, command: []string{"true"}}).handler())
	defer ts.Close()
	tests := []struct {
		path     string
		status   int
		ctype    string
		contains []string
	}{
		// The page VHS opens: it must set window.term (and term.fit) and
		// ask for the "tty" subprotocol; build.sh must have inlined xterm.js.
		{"/", 200, "text/html", []string{"window.term = term", "term.fit = ", "['tty']", "CanvasAddon", "FitAddon", "Unicode11Addon"}},
		{"/index.html", 200, "text/html", []string{"window.term = term"}},
		{"/token", 200, "application/json", []string{`{"token": ""}`}},
		{"/nope", 404, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.ctype)
			}
			for _, s := range tc.contains {
				if !strings.Contains(string(body), s) {
					t.Errorf("GET %s: the body (%d bytes) lacks %q", tc.path, len(body), s)
				}
			}
			if tc.ctype == "text/html" && regexp.MustCompile(`(?m)^@@.*@@$`).Match(body) {
				t.Errorf("GET %s: an @@FILE@@ line was not inlined by build.sh", tc.path)
			}
		})
	}
}

// startServer serves cfg on a random local port; exited receives the codes
// the server would have exited with (--once, --exit-no-conn).
func startServer(t *testing.T, cfg *config) (ts *httptest.Server, exited chan int) {
	t.Helper()
	s := newServer(cfg)
	exited = make(chan int, 4)
	s.exit = func(code int) { exited <- code }
	ts = httptest.NewServer(s.handler())
	t.Cleanup(ts.Close)
	return ts, exited
}

var dialer = websocket.Dialer{Subprotocols: []string{"tty"}, HandshakeTimeout: 10 * time.Second}

func wsURL(ts *httptest.Server) string { return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws" }

// client is the page's side of the protocol; every read has a deadline.
type client struct {
	t    *testing.T
	conn *websocket.Conn
	out  strings.Builder // the payloads of the '0' (output) frames so far
}

const timeout = 10 * time.Second

func dial(t *testing.T, ts *httptest.Server) *client {
	t.Helper()
	conn, resp, err := dialer.Dial(wsURL(ts), nil)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.Subprotocol(); p != "tty" {
		t.Fatalf("subprotocol %q, want tty (a browser drops the connection otherwise)", p)
	}
	return &client{t: t, conn: conn}
}

// send writes one binary frame, cmd+payload, as the page does.
func (c *client) send(cmd byte, payload string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.BinaryMessage, append([]byte{cmd}, payload...)); err != nil {
		c.t.Fatalf("send %c%s: %v", cmd, payload, err)
	}
}

func (c *client) read() (byte, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	typ, msg, err := c.conn.ReadMessage()
	if err != nil {
		return 0, nil, err
	}
	if typ != websocket.BinaryMessage || len(msg) == 0 {
		c.t.Fatalf("got a frame of type %d, %q: want binary, cmd+payload", typ, msg)
	}
	return msg[0], msg[1:], nil
}

// waitFor reads output frames until the output contains want.
func (c *client) waitFor(want string) {
	c.t.Helper()
	for !strings.Contains(c.out.String(), want) {
		cmd, data, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for %q: %v; output so far %q", want, err, c.out.String())
		}
		if cmd != '0' {
			c.t.Fatalf("waiting for %q: got a %q frame (%q), want output ('0')", want, cmd, data)
		}
		c.out.Write(data)
	}
}

// handshake sends the page's first message and checks the two replies:
// the window title, then the -t options as typed JSON.
func (c *client) handshake(cfg *config, cols, rows int) {
	c.t.Helper()
	hello, _ := json.Marshal(map[string]any{"AuthToken": "", "columns": cols, "rows": rows})
	if err := c.conn.WriteMessage(websocket.BinaryMessage, hello); err != nil {
		c.t.Fatalf("send %s: %v", hello, err)
	}
	cmd, title, err := c.read()
	if err != nil || cmd != '1' || !strings.HasPrefix(string(title), strings.Join(cfg.command, " ")) {
		c.t.Fatalf("first frame %q %q (%v): want '1' and the title, the command first", cmd, title, err)
	}
	cmd, prefs, err := c.read()
	if err != nil || cmd != '2' {
		c.t.Fatalf("second frame %q %q (%v): want '2' and the preferences", cmd, prefs, err)
	}
	var got map[string]any
	if err := json.Unmarshal(prefs, &got); err != nil || !reflect.DeepEqual(got, cfg.prefs) {
		c.t.Fatalf("preferences %s (%v), want %v", prefs, err, cfg.prefs)
	}
}

func waitExit(t *testing.T, exited chan int) {
	t.Helper()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	case <-time.After(timeout):
		t.Fatal("the server did not exit after its client was gone (--once)")
	}
}

// TestProtocol runs a command through the server as VHS does: VHS's options,
// one client, output, a resize, input, the command's exit.
func TestProtocol(t *testing.T) {
	script := `printf "ready:%s;" "$(stty size)"; read x; printf "got:%s size:%s;" "$x" "$(stty size)"`
	cfg, err := parseArgs(append(vhsArgs("0"), "/bin/sh", "-c", script))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.prefs, vhsPrefs) {
		t.Fatalf("prefs %v, want %v", cfg.prefs, vhsPrefs)
	}
	ts, exited := startServer(t, cfg)
	c := dial(t, ts)
	c.handshake(cfg, 80, 24)
	c.waitFor("ready:24 80;") // the pty has the size of the first message

	// --once: no second client while the first is there.
	if conn, resp, err := dialer.Dial(wsURL(ts), nil); err == nil {
		conn.Close()
		t.Error("a second client was accepted with --once")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("second client: %v, response %v; want 403", err, resp)
	}

	// The resize is handled before the input that follows it, so the
	// command, which reads the size after the line, must see it.
	c.send('1', `{"columns":100,"rows":30}`)
	c.send('0', "hello\n")
	c.waitFor("got:hello size:30 100;")

	// The command has exited: the server closes the connection normally
	// (after all the output), then exits because of --once.
	for {
		cmd, data, err := c.read()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("after the command exited: %v, want a normal close", err)
			}
			break
		}
		if cmd != '0' {
			t.Fatalf("after the command's output: a %q frame %q", cmd, data)
		}
		c.out.Write(data)
	}
	waitExit(t, exited)
}

// TestWritable: input reaches the command only with --writable.
func TestWritable(t *testing.T) {
	// Each resize (SIGWINCH) interrupts `read` and prints the size; the
	// loop is bounded so that the script ends if the test goes wrong.
	script := `trap 'printf "size:%s;" "$(stty size)"' WINCH; printf ready; ` +
		`for i in 1 2 3 4 5 6; do read x && printf "got:%s;" "$x"; done`
	for _, writable := range []bool{true, false} {
		t.Run("writable="+strconv.FormatBool(writable), func(t *testing.T) {
			args := []string{"--once", "/bin/sh", "-c", script}
			if writable {
				args = append([]string{"--writable"}, args...)
			}
			cfg, err := parseArgs(args)
			if err != nil {
				t.Fatal(err)
			}
			ts, exited := startServer(t, cfg)
			c := dial(t, ts)
			c.handshake(cfg, 80, 24)
			c.waitFor("ready")
			c.send('0', "hello\n")
			if writable {
				c.waitFor("got:hello;")
			}
			// Without --writable nothing marks "input ignored", so make the
			// server and the command answer twice after the input: had the
			// input reached the pty, its echo (and got:hello) would be
			// there by the second answer.
			c.send('1', `{"columns":100,"rows":30}`)
			c.waitFor("size:30 100;")
			c.send('1', `{"columns":101,"rows":31}`)
			c.waitFor("size:31 101;")
			if got := strings.Contains(c.out.String(), "hello"); got != writable {
				t.Errorf("output %q: contains hello = %v, want %v", c.out.String(), got, writable)
			}
			c.conn.Close()
			waitExit(t, exited) // the client went away, --once
		})
	}
}

// TestFirstMessage: the client's JSON must come first, as in ttyd.
func TestFirstMessage(t *testing.T) {
	ts, _ := startServer(t, &config{prefs: map[string]any{}, command: []string{"/bin/sh", "-c", "printf hi"}})
	c := dial(t, ts)
	c.send('0', "input before the JSON\n")
	cmd, data, err := c.read()
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("got %q %q, %v; want a policy-violation close", cmd, data, err)
	}
}
