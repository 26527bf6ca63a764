package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"diffuapriel/models"
)

// TraceVersion is written into every trace header.
const TraceVersion = 1

// PaneInfo describes one model of a trace (compare mode has 2 or 3).
type PaneInfo struct {
	Model   string         `json:"model"` // display name
	Path    string         `json:"path"`  // checkpoint path, or "embedded:NAME"
	Params  int64          `json:"params"`
	Backend string         `json:"backend"`
	Device  string         `json:"device"`
	Config  *models.Config `json:"config"`
}

// TraceHeader is the first line of a trace.
type TraceHeader struct {
	Type    string     `json:"type"` // "header"
	Version int        `json:"version"`
	Created time.Time  `json:"created"`
	Prompt  string     `json:"prompt"`
	Length  int        `json:"length"`
	Options Options    `json:"options"`
	Canvas  Canvas     `json:"canvas"`
	Mask    int32      `json:"mask_token_id"`
	Panes   []PaneInfo `json:"panes"`
}

// traceRecord is one line after the header.
type traceRecord struct {
	Type  string     `json:"type"` // "step" or "steer"
	Pane  int        `json:"pane"`
	Event *StepEvent `json:"event,omitempty"`
	Steer *Edit      `json:"steer,omitempty"`
}

// TraceWriter streams a trace as JSON Lines: the header, then one line per
// step event or steering edit, each flushed as it happens.
type TraceWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewTraceWriter writes the header.
func NewTraceWriter(w io.Writer, h TraceHeader) (*TraceWriter, error) {
	h.Type, h.Version = "header", TraceVersion
	bw := bufio.NewWriter(w)
	tw := &TraceWriter{w: bw, enc: json.NewEncoder(bw)}
	return tw, tw.write(h)
}

func (tw *TraceWriter) write(v any) error {
	if err := tw.enc.Encode(v); err != nil {
		return fmt.Errorf("writing trace: %v", err)
	}
	if err := tw.w.Flush(); err != nil {
		return fmt.Errorf("writing trace: %v", err)
	}
	return nil
}

// Step records one event of a pane.
func (tw *TraceWriter) Step(pane int, ev StepEvent) error {
	return tw.write(traceRecord{Type: "step", Pane: pane, Event: &ev})
}

// Steer records a steering edit of a pane.
func (tw *TraceWriter) Steer(pane int, e Edit) error {
	return tw.write(traceRecord{Type: "steer", Pane: pane, Steer: &e})
}

// Trace is a trace read back: its header and one history per pane.
type Trace struct {
	Header TraceHeader
	Panes  []*History
}

// maxTraceLine bounds one JSON line (a step of a long sequence with
// candidates can be several MB).
const maxTraceLine = 256 << 20

// ReadTraceFile reads the trace at path; every error is one line naming the file.
func ReadTraceFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, fmt.Errorf("cannot open trace %s: %v", path, err)
	}
	defer f.Close()
	tr, err := ReadTrace(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return tr, nil
}

// ReadTrace parses a trace, checking that events follow each other and that
// every position and token lies inside the canvas and vocabulary.
func ReadTrace(r io.Reader) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxTraceLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("trace: %v", err)
		}
		return nil, fmt.Errorf("trace: empty file")
	}
	var tr Trace
	if err := json.Unmarshal(sc.Bytes(), &tr.Header); err != nil || tr.Header.Type != "header" {
		return nil, fmt.Errorf("trace: line 1 is not a trace header")
	}
	h := &tr.Header
	if h.Version != TraceVersion {
		return nil, fmt.Errorf("trace: version %d, this build reads %d", h.Version, TraceVersion)
	}
	if len(h.Panes) < 1 || len(h.Panes) > 3 {
		return nil, fmt.Errorf("trace: %d panes, want 1 to 3", len(h.Panes))
	}
	if len(h.Canvas.Tokens) == 0 || len(h.Canvas.Tokens) != len(h.Canvas.Fixed) {
		return nil, fmt.Errorf("trace: header canvas has %d tokens and %d fixed flags", len(h.Canvas.Tokens), len(h.Canvas.Fixed))
	}
	vocab := int32(1 << 24)
	for _, p := range h.Panes {
		if p.Config != nil {
			vocab = min(vocab, int32(p.Config.VocabSize))
		}
	}
	if err := checkTokens(h.Canvas.Tokens, vocab); err != nil {
		return nil, fmt.Errorf("trace: header canvas: %v", err)
	}
	for range h.Panes {
		tr.Panes = append(tr.Panes, NewHistory(h.Canvas, h.Mask))
	}
	for line := 2; sc.Scan(); line++ {
		var rec traceRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("trace: line %d: %v", line, err)
		}
		if rec.Pane < 0 || rec.Pane >= len(tr.Panes) {
			return nil, fmt.Errorf("trace: line %d: pane %d does not exist", line, rec.Pane)
		}
		hist := tr.Panes[rec.Pane]
		var err error
		switch {
		case rec.Type == "step" && rec.Event != nil:
			err = checkEvent(rec.Event, len(h.Canvas.Tokens), vocab)
			if err == nil {
				err = hist.Append(*rec.Event)
			}
		case rec.Type == "steer" && rec.Steer != nil:
			e := rec.Steer
			if e.Token < 0 || e.Token >= vocab {
				err = fmt.Errorf("steer token %d outside the vocabulary", e.Token)
			} else {
				err = hist.Steer(e.Before, e.Pos, e.Token)
			}
		default:
			err = fmt.Errorf("unknown record type %q", rec.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("trace: line %d: %v", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace: %v", err)
	}
	return &tr, nil
}

func checkTokens(tokens []int32, vocab int32) error {
	for i, t := range tokens {
		if t < 0 || t >= vocab {
			return fmt.Errorf("token %d at position %d outside the vocabulary", t, i)
		}
	}
	return nil
}

func checkEvent(ev *StepEvent, length int, vocab int32) error {
	for _, rv := range ev.Revealed {
		if rv.Pos < 0 || rv.Pos >= length || rv.Token < 0 || rv.Token >= vocab {
			return fmt.Errorf("event %d reveals token %d at position %d, outside the canvas or vocabulary", ev.Index, rv.Token, rv.Pos)
		}
	}
	for _, st := range ev.Candidates {
		if st.Pos < 0 || int(st.Pos) >= length {
			return fmt.Errorf("event %d has a candidate at position %d, outside the canvas", ev.Index, st.Pos)
		}
	}
	return nil
}
