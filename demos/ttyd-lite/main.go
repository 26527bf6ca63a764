// Command ttyd is ttyd-lite: a small stand-in for ttyd
// (https://github.com/tsl0922/ttyd) that is just enough for VHS to record a
// terminal. It serves one web page (xterm.js 5.5 with the canvas renderer,
// assembled by build.sh) and bridges its websocket to a command running in a
// pseudo-terminal, speaking ttyd 1.7's protocol:
//
//	client -> server: '{'… first (JSON: columns, rows), then '0'+input, '1'+JSON resize
//	server -> client: '0'+output, '1'+window title, '2'+JSON preferences (the -t options)
//
// The page sets window.term (with term.fit) as ttyd's does, which is what
// VHS drives. It accepts the options VHS passes (--port, --interface, -t,
// --once, --writable) and a few more; see usage.
//
// It exists because this project's machines cannot fetch ttyd's release
// binary or its sources; where the real ttyd is installed, use that.
package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"
)

// version is the ttyd release whose protocol and options this follows; VHS
// checks that `ttyd --version` is at least 1.7.2.
const version = "1.7.7"

//go:embed assets/index.html
var indexHTML []byte

type config struct {
	port       int
	iface      string
	prefs      map[string]any
	termType   string
	cwd        string
	once       bool
	exitNoConn bool
	writable   bool
	debug      bool
	command    []string
	print      string // --version or --help: print this and exit 0
}

const usage = `ttyd-lite: a stand-in for ttyd, enough for VHS (not tsl0922/ttyd)

USAGE:
    ttyd [options] <command> [<arguments...>]

OPTIONS:
    -p, --port            Port to listen on (default: 7681, 0 for a random port)
    -i, --interface       Address to bind (default: all)
    -t, --client-option   Send option to the client (key=value), repeat to add more
    -T, --terminal-type   TERM for the command (default: xterm-256color)
    -w, --cwd             Working directory of the command
    -W, --writable        Let the client write to the terminal (read-only otherwise)
    -o, --once            Accept one client and exit when it disconnects
    -q, --exit-no-conn    Exit when the client disconnects
    -d, --debug           Log connections (any value)
    -v, --version         Print the version and exit
    -h, --help            Print this text and exit
`

func parseArgs(args []string) (*config, error) {
	c := &config{port: 7681, prefs: map[string]any{}, termType: "xterm-256color"}
	withArg := map[string]string{"p": "port", "i": "interface", "t": "client-option", "T": "terminal-type", "w": "cwd", "d": "debug"}
	noArg := map[string]string{"W": "writable", "o": "once", "q": "exit-no-conn", "v": "version", "h": "help"}
	long := map[string]bool{}
	for _, l := range withArg {
		long[l] = true
	}
	for _, l := range noArg {
		long[l] = false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			c.command = args[i+1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			c.command = args[i:]
			break
		}
		var name, val string
		hasVal := false
		if strings.HasPrefix(a, "--") {
			name = a[2:]
			if k, v, ok := strings.Cut(name, "="); ok {
				name, val, hasVal = k, v, true
			}
			if _, ok := long[name]; !ok {
				return nil, fmt.Errorf("unknown option --%s", name)
			}
		} else {
			short := a[1:2]
			if l, ok := withArg[short]; ok {
				name = l
				if len(a) > 2 {
					val, hasVal = a[2:], true
				}
			} else if l, ok := noArg[short]; ok && len(a) == 2 {
				name = l
			} else {
				return nil, fmt.Errorf("unknown option %s", a)
			}
		}
		if long[name] && !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("option --%s needs a value", name)
			}
			i++
			val = args[i]
		}
		switch name {
		case "port":
			p, err := strconv.Atoi(val)
			if err != nil || p < 0 || p > 65535 {
				return nil, fmt.Errorf("invalid port: %s", val)
			}
			c.port = p
		case "interface":
			c.iface = val
		case "client-option":
			k, v, ok := strings.Cut(val, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("invalid client option (key=value): %s", val)
			}
			// As ttyd does: a value that parses as JSON (true, 13) is sent
			// typed, anything else as a string.
			var typed any
			if err := json.Unmarshal([]byte(v), &typed); err == nil {
				c.prefs[k] = typed
			} else {
				c.prefs[k] = v
			}
		case "terminal-type":
			c.termType = val
		case "cwd":
			c.cwd = val
		case "debug":
			c.debug = true
		case "writable":
			c.writable = true
		case "once":
			c.once = true
		case "exit-no-conn":
			c.exitNoConn = true
		case "version":
			c.print = fmt.Sprintf("ttyd version %s (ttyd-lite, a stand-in speaking ttyd %s's protocol)\n", version, version)
			return c, nil
		case "help":
			c.print = usage
			return c, nil
		}
	}
	if len(c.command) == 0 {
		return nil, errors.New("no command given")
	}
	return c, nil
}

type server struct {
	cfg      *config
	mu       sync.Mutex
	clients  int
	accepted int
	up       websocket.Upgrader
	exit     func(code int) // os.Exit; tests replace it
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("ttyd-lite: ")
	cfg, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "ttyd: %v\n\n%s", err, usage)
		os.Exit(1)
	}
	if cfg.print != "" {
		fmt.Print(cfg.print)
		os.Exit(0)
	}
	s := newServer(cfg)
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.iface, strconv.Itoa(cfg.port)))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s, command: %s", ln.Addr(), strings.Join(cfg.command, " "))
	log.Fatal(http.Serve(ln, s.handler()))
}

func newServer(cfg *config) *server {
	return &server{cfg: cfg, exit: os.Exit, up: websocket.Upgrader{
		Subprotocols:    []string{"tty"},
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  32 << 10,
		WriteBufferSize: 32 << 10,
	}}
}

// handler serves the page at / (and /index.html), /token and the websocket at /ws.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.index)
	mux.HandleFunc("/token", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = io.WriteString(w, `{"token": ""}`)
	})
	mux.HandleFunc("/ws", s.ws)
	return mux
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(indexHTML)
}

// ws runs one client: the command in a pty, bridged to the websocket.
func (s *server) ws(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.cfg.once && s.accepted > 0 {
		s.mu.Unlock()
		http.Error(w, "ttyd-lite: --once, a client was already accepted", http.StatusForbidden)
		return
	}
	s.accepted++
	s.clients++
	s.mu.Unlock()
	defer s.disconnected()

	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		log.Printf("websocket upgrade: %v", err)
		return
	}
	defer conn.Close()
	if s.cfg.debug {
		log.Printf("client connected from %s", r.RemoteAddr)
	}

	var wmu sync.Mutex
	send := func(cmd byte, data []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		msg := make([]byte, 1+len(data))
		msg[0] = cmd
		copy(msg[1:], data)
		return conn.WriteMessage(websocket.BinaryMessage, msg)
	}

	// The first message is the client's JSON: {"AuthToken": "", "columns": c, "rows": r}.
	_, first, err := conn.ReadMessage()
	if err != nil {
		return
	}
	var hello struct {
		Columns int `json:"columns"`
		Rows    int `json:"rows"`
	}
	if len(first) == 0 || first[0] != '{' || json.Unmarshal(first, &hello) != nil {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "expected the client's JSON first"), nilDeadline)
		return
	}
	prefs, _ := json.Marshal(s.cfg.prefs)
	host, _ := os.Hostname()
	if send('1', []byte(strings.Join(s.cfg.command, " ")+" ("+host+")")) != nil || send('2', prefs) != nil {
		return
	}

	cmd := exec.Command(s.cfg.command[0], s.cfg.command[1:]...)
	cmd.Env = append(os.Environ(), "TERM="+s.cfg.termType)
	cmd.Dir = s.cfg.cwd
	size := &pty.Winsize{Cols: uint16(max(hello.Columns, 1)), Rows: uint16(max(hello.Rows, 1))}
	tty, err := pty.StartWithSize(cmd, size)
	if err != nil {
		msg := fmt.Sprintf("ttyd-lite: cannot start %s: %v\r\n", s.cfg.command[0], err)
		_ = send('0', []byte(msg))
		return
	}
	defer tty.Close()

	// Command output -> client; when the command exits (EIO on the pty),
	// the connection is closed as ttyd does.
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := tty.Read(buf)
			if n > 0 && send('0', buf[:n]) != nil {
				return
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		<-done
		_ = cmd.Wait()
		wmu.Lock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), nilDeadline)
		wmu.Unlock()
		conn.Close()
	}()

	// Client -> command.
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			break
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case '0':
			if s.cfg.writable {
				_, _ = tty.Write(msg[1:])
			}
		case '1':
			var rs struct {
				Columns int `json:"columns"`
				Rows    int `json:"rows"`
			}
			if json.Unmarshal(msg[1:], &rs) == nil && rs.Columns > 0 && rs.Rows > 0 {
				_ = pty.Setsize(tty, &pty.Winsize{Cols: uint16(rs.Columns), Rows: uint16(rs.Rows)})
			}
		case '2', '3': // pause / resume (flow control): not needed here
		}
	}
	// The client went away: hang up the command, as ttyd does (SIGHUP).
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGHUP)
		_ = cmd.Process.Signal(syscall.SIGHUP)
	}
}

// nilDeadline: control frames are written without a deadline.
var nilDeadline time.Time

func (s *server) disconnected() {
	s.mu.Lock()
	s.clients--
	left := s.clients
	s.mu.Unlock()
	if s.cfg.debug {
		log.Printf("client disconnected")
	}
	if left == 0 && (s.cfg.once || s.cfg.exitNoConn) {
		s.exit(0)
	}
}
