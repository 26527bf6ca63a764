package export

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"diffuapriel/engine"
	"diffuapriel/models"
)

// fuzzSeed is a small real trace: the fuzzer mutates something that parses.
func fuzzSeed(t testing.TB) []byte {
	if traceCache["fuzz"] == nil {
		traceCache["fuzz"] = recordTrace(t, traceSpec{backbones: []string{models.BackboneMamba},
			prompt: "Hi", length: 6, opts: options("confidence", 3), steerAt: 2})
	}
	return traceCache["fuzz"]
}

// exportAll renders a trace both ways with small bounds.
func exportAll(tr *engine.Trace) error {
	if err := GIF(io.Discard, tr, GIFOptions{Columns: 12, MaxLines: 3, MaxFrames: 6, FontSize: 8}); err != nil {
		return err
	}
	return HTML(io.Discard, tr, HTMLOptions{MaxCandidates: 50})
}

func TestCorruptTracesGiveOneLineErrors(t *testing.T) {
	good := fuzzSeed(t)
	header, rest, _ := bytes.Cut(good, []byte("\n"))
	cases := map[string]string{
		"empty":         "",
		"not json":      "hello\n",
		"array header":  "[1,2,3]\n",
		"wrong version": strings.Replace(string(header), `"version":1`, `"version":99`, 1) + "\n",
		"no panes":      strings.Replace(string(header), `"panes":[`, `"panes":[],"x":[`, 1) + "\n",
		"bad pane":      string(header) + "\n" + `{"type":"step","pane":5,"event":{"index":0}}` + "\n",
		"skipped event": string(header) + "\n" + `{"type":"step","pane":0,"event":{"index":3}}` + "\n",
		"reveal outside": string(header) + "\n" +
			`{"type":"step","pane":0,"event":{"index":0,"revealed":[{"pos":9999,"token":1}]}}` + "\n",
		"unknown record": string(header) + "\n" + `{"type":"zap","pane":0}` + "\n",
		"truncated line": string(header) + "\n" + string(rest[:len(rest)/2]),
	}
	for name, input := range cases {
		tr, err := engine.ReadTrace(strings.NewReader(input))
		if err == nil {
			t.Errorf("%s: accepted (%d panes)", name, len(tr.Panes))
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "trace: ") || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q is not one line naming the trace", name, msg)
		}
	}
	tr, err := engine.ReadTrace(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := exportAll(tr); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadTraceExport feeds arbitrary bytes to engine.ReadTrace; whatever it
// accepts must export to GIF and HTML without a panic, and whatever it
// rejects must be a one-line error.
func FuzzReadTraceExport(f *testing.F) {
	good := fuzzSeed(f)
	f.Add(good)
	lines := bytes.SplitAfter(good, []byte("\n"))
	f.Add(lines[0])
	f.Add(bytes.Join(lines[:2], nil))
	f.Add(good[:len(good)*2/3])
	f.Add([]byte(`{"type":"header","version":1}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := engine.ReadTrace(bytes.NewReader(data))
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line", msg)
			}
			return
		}
		if len(tr.Header.Canvas.Tokens) > 4096 {
			return // a canvas that large from a fuzzed input only costs time
		}
		if err := exportAll(tr); err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("export error %q is not one line", err)
		}
	})
}
