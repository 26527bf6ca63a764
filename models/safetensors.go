package models

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strings"
)

// maxHeaderBytes caps the JSON header of a safetensors file. Real headers of
// the largest presets are well under 1 MiB; the cap stops a corrupt length
// field from making the loader parse (or allocate for) gigabytes.
const maxHeaderBytes = 100 << 20

// maxRank caps a tensor's dimension count; the spec's deepest is 3.
const maxRank = 16

// metadataKey is the reserved safetensors header key for string metadata.
const metadataKey = "__metadata__"

// safetensorsFile is one parsed, validated safetensors file. Tensor data are
// views into the file's bytes.
type safetensorsFile struct {
	name     string            // path or label, used in every error
	metadata map[string]string // __metadata__, possibly nil
	tensors  []*Tensor         // in data order
}

// headerEntry is one tensor's header record. Pointers tell "missing" from "empty".
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseSafetensors validates the layout of a whole safetensors file: header
// length, JSON header, dtypes, shapes, and that the tensors' byte ranges tile
// the data section exactly. It does not look at tensor values.
func parseSafetensors(name string, data []byte) (*safetensorsFile, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(data) < 8 {
		return nil, fail("file is %d bytes, too short for a safetensors file (needs an 8-byte header length)", len(data))
	}
	headerLen := binary.LittleEndian.Uint64(data)
	if headerLen > maxHeaderBytes {
		return nil, fail("header length %d is absurd (limit %d bytes); not a safetensors file or corrupt", headerLen, maxHeaderBytes)
	}
	if headerLen > uint64(len(data)-8) {
		return nil, fail("header length %d runs past the end of the file (%d bytes): header claims more bytes than the file has", headerLen, len(data))
	}
	body := data[8+headerLen:]
	entries, order, metadata, err := decodeHeader(data[8 : 8+headerLen])
	if err != nil {
		return nil, fail("header: %v", err)
	}
	f := &safetensorsFile{name: name, metadata: metadata}
	type span struct {
		begin, end int64
		tensor     *Tensor
	}
	spans := make([]span, 0, len(order))
	for _, tname := range order {
		e := entries[tname]
		t, begin, end, err := validateEntry(tname, e, int64(len(body)))
		if err != nil {
			return nil, fail("%v", err)
		}
		t.Data = body[begin:end:end]
		spans = append(spans, span{begin, end, t})
	}
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	// safetensors requires the tensors to cover the data section with no
	// overlap, no gap and nothing after the last one.
	var pos int64
	prev := ""
	for _, s := range spans {
		switch {
		case s.begin < pos:
			return nil, fail("tensors %q and %q overlap (%q starts at data byte %d, before %q ends at %d)", prev, s.tensor.Name, s.tensor.Name, s.begin, prev, pos)
		case s.begin > pos:
			return nil, fail("%d unused bytes before tensor %q (data_offsets must tile the data section)", s.begin-pos, s.tensor.Name)
		}
		pos, prev = s.end, s.tensor.Name
		f.tensors = append(f.tensors, s.tensor)
	}
	if pos != int64(len(body)) {
		return nil, fail("%d bytes after the last tensor are claimed by no header entry", int64(len(body))-pos)
	}
	return f, nil
}

// decodeHeader reads the JSON header object, rejecting duplicate keys (which
// a plain map decode would silently collapse) and trailing garbage; trailing
// spaces are the format's padding.
func decodeHeader(header []byte) (map[string]headerEntry, []string, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, nil, errors.New("malformed JSON: not an object")
	}
	entries := map[string]headerEntry{}
	var order []string
	var metadata map[string]string
	seenMetadata := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("malformed JSON: %v", err)
		}
		key := tok.(string) // object keys are always strings
		if key == metadataKey {
			if seenMetadata {
				return nil, nil, nil, fmt.Errorf("duplicate key %q", key)
			}
			seenMetadata = true
			if err := dec.Decode(&metadata); err != nil {
				return nil, nil, nil, fmt.Errorf("%s must map strings to strings: %v", metadataKey, err)
			}
			continue
		}
		if _, dup := entries[key]; dup {
			return nil, nil, nil, fmt.Errorf("duplicate tensor %q", key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, nil, fmt.Errorf("malformed JSON at tensor %q: %v", key, err)
		}
		var e headerEntry
		strict := json.NewDecoder(bytes.NewReader(raw))
		strict.DisallowUnknownFields()
		if err := strict.Decode(&e); err != nil {
			return nil, nil, nil, fmt.Errorf("tensor %q: bad entry: %v", key, err)
		}
		entries[key] = e
		order = append(order, key)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, nil, errors.New("malformed JSON: data after the header object")
	}
	return entries, order, metadata, nil
}

// validateEntry checks one header entry against the data section length and
// returns its tensor (without data) and byte range.
func validateEntry(name string, e headerEntry, dataLen int64) (*Tensor, int64, int64, error) {
	fail := func(format string, args ...any) (*Tensor, int64, int64, error) {
		return nil, 0, 0, fmt.Errorf("tensor %q: %s", name, fmt.Sprintf(format, args...))
	}
	if e.DType == nil || e.Shape == nil || e.DataOffsets == nil {
		return fail("header entry needs dtype, shape and data_offsets")
	}
	dtype := DType(*e.DType)
	size := dtype.Size()
	if size == 0 {
		return fail("unknown dtype %q (want F32, F16 or BF16)", *e.DType)
	}
	shape := *e.Shape
	if len(shape) > maxRank {
		return fail("shape has %d dimensions (limit %d)", len(shape), maxRank)
	}
	numel := uint64(1)
	for _, s := range shape {
		if s < 0 {
			return fail("shape %v has a negative dimension", shape)
		}
		if uint64(s) > math.MaxInt {
			return fail("shape %v has a dimension too large for this platform", shape)
		}
		hi, lo := bits.Mul64(numel, uint64(s))
		if hi != 0 || lo > math.MaxInt64/8 {
			return fail("shape %v overflows", shape)
		}
		numel = lo
	}
	offs := *e.DataOffsets
	if len(offs) != 2 {
		return fail("data_offsets has %d entries, want [begin, end]", len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || end < begin {
		return fail("data_offsets [%d, %d] are out of order", begin, end)
	}
	if end > dataLen {
		return fail("data_offsets [%d, %d] run past the end of the data section (%d bytes): header claims more bytes than the file has", begin, end, dataLen)
	}
	if want := numel * uint64(size); uint64(end-begin) != want {
		return fail("holds %d bytes but shape %v of %s needs %d", end-begin, shape, dtype, want)
	}
	t := &Tensor{Name: name, DType: dtype, Shape: make([]int, len(shape))}
	for i, s := range shape {
		t.Shape[i] = int(s) // fits: the product fits in the data section
	}
	return t, begin, end, nil
}

// headerFor builds the padded JSON header of a file holding specs in order,
// every tensor of dtype. Padding with spaces makes the data section start at
// a multiple of 8 bytes, so F32 tensors can be viewed without copying.
func headerFor(metadata map[string]string, specs []TensorSpec, dtype DType) ([]byte, error) {
	var b strings.Builder
	meta, err := json.Marshal(metadata)
	if err != nil {
		return nil, err
	}
	b.WriteString(`{"` + metadataKey + `":`)
	b.Write(meta)
	var offset int64
	for _, s := range specs {
		name, err := json.Marshal(s.Name)
		if err != nil {
			return nil, err
		}
		shape, err := json.Marshal(s.Shape)
		if err != nil {
			return nil, err
		}
		n := specBytes(s, dtype)
		fmt.Fprintf(&b, `,%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, dtype, shape, offset, offset+n)
		offset += n
	}
	b.WriteString("}")
	for (8+b.Len())%8 != 0 {
		b.WriteByte(' ')
	}
	return []byte(b.String()), nil
}

// specBytes is the stored size of a tensor spec in dtype.
func specBytes(s TensorSpec, dtype DType) int64 {
	n := int64(dtype.Size())
	for _, d := range s.Shape {
		n *= int64(d)
	}
	return n
}
