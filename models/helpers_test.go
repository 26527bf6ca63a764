package models

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// microConfig is a valid config far smaller than the tiny preset (about a
// thousand parameters, mostly the fixed 256-wide sigma features), so
// corruption tests and fuzz inputs stay small: fuzzing minimizes every
// interesting input, which takes time proportional to its size.
func microConfig(t testing.TB, backbone string) *Config {
	t.Helper()
	c, err := Preset("tiny", backbone)
	if err != nil {
		t.Fatal(err)
	}
	c.VocabSize, c.MaskTokenID, c.EOSTokenID = 8, 7, 6
	c.DModel, c.CondDim, c.NLayers = 4, 2, 2
	c.Mamba = MambaConfig{DState: 2, DConv: 4, Expand: 2, HeadDim: 4, NGroups: 1, ChunkSize: 4}
	c.Attention.NHeads = 2
	c.TieEmbeddings = false
	c.Name = "micro-" + backbone
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// microBytes is a valid micro checkpoint file.
func microBytes(t testing.TB, backbone string, dtype DType) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "micro.safetensors")
	if err := Save(path, RandomInit(microConfig(t, backbone), 7), dtype, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// splitFile returns a safetensors file's decoded header and its data section.
func splitFile(t testing.TB, data []byte) (map[string]any, []byte) {
	t.Helper()
	n := binary.LittleEndian.Uint64(data)
	var header map[string]any
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	return header, data[8+n:]
}

// joinFile assembles a safetensors file from a header and a data section.
func joinFile(t testing.TB, header map[string]any, body []byte) []byte {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, body...)
}

// editHeader rewrites a file's header through edit, keeping its data.
func editHeader(t testing.TB, data []byte, edit func(h map[string]any)) []byte {
	t.Helper()
	h, body := splitFile(t, data)
	edit(h)
	return joinFile(t, h, body)
}

// entry returns a tensor's header record.
func entry(t testing.TB, h map[string]any, name string) map[string]any {
	t.Helper()
	e, ok := h[name].(map[string]any)
	if !ok {
		t.Fatalf("no tensor %q in header", name)
	}
	return e
}

// tensorRange returns a tensor's [begin, end) in the data section.
func tensorRange(t testing.TB, data []byte, name string) (int, int) {
	h, _ := splitFile(t, data)
	offs := entry(t, h, name)["data_offsets"].([]any)
	return int(offs[0].(float64)), int(offs[1].(float64))
}

// setElement overwrites element i of a tensor with raw little-endian bits.
func setElement(t testing.TB, data []byte, name string, i int, bits uint32, size int) []byte {
	t.Helper()
	out := bytes.Clone(data)
	n := binary.LittleEndian.Uint64(out)
	begin, _ := tensorRange(t, data, name)
	at := 8 + int(n) + begin + i*size
	if size == 2 {
		binary.LittleEndian.PutUint16(out[at:], uint16(bits))
	} else {
		binary.LittleEndian.PutUint32(out[at:], bits)
	}
	return out
}

// wantError asserts err is a one-line error mentioning every fragment.
func wantError(t testing.TB, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got nil", fragments)
	}
	msg := err.Error()
	t.Log(msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("error %q does not mention %q", msg, f)
		}
	}
}

// sameWeights asserts two models hold the same tensors, values compared
// after decoding (so different dtypes can be compared with a tolerance).
func sameWeights(t testing.TB, a, b *Weights, tol float64) {
	t.Helper()
	ta, tb := a.tensors(), b.tensors()
	if len(ta) != len(tb) {
		t.Fatalf("%d tensors vs %d", len(ta), len(tb))
	}
	byName := map[string]*Tensor{}
	for _, x := range tb {
		byName[x.Name] = x
	}
	for _, x := range ta {
		y, ok := byName[x.Name]
		if !ok {
			t.Fatalf("tensor %q missing", x.Name)
		}
		if !sameShape(x.Shape, y.Shape) {
			t.Fatalf("tensor %q: shape %v vs %v", x.Name, x.Shape, y.Shape)
		}
		fx, fy := Float32s(x), Float32s(y)
		for i := range fx {
			d := float64(fx[i] - fy[i])
			if d < 0 {
				d = -d
			}
			scale := max(1, abs64(float64(fx[i])))
			if d > tol*scale {
				t.Fatalf("tensor %q element %d: %g vs %g", x.Name, i, fx[i], fy[i])
			}
		}
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
