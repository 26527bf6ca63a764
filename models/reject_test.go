package models

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// rawTensor is one tensor of a file being rebuilt by a test.
type rawTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

// rebuild decodes a valid file into its tensors, lets edit change them and
// the metadata, and reassembles a file with consistent offsets, so a test can
// break exactly one thing.
func rebuild(t *testing.T, data []byte, edit func(ts []rawTensor, meta map[string]any) []rawTensor) []byte {
	t.Helper()
	h, body := splitFile(t, data)
	meta, _ := h[metadataKey].(map[string]any)
	delete(h, metadataKey)
	var ts []rawTensor
	begins := map[string]int{}
	for name, e := range h {
		m := e.(map[string]any)
		var shape []int
		for _, d := range m["shape"].([]any) {
			shape = append(shape, int(d.(float64)))
		}
		offs := m["data_offsets"].([]any)
		b, en := int(offs[0].(float64)), int(offs[1].(float64))
		ts = append(ts, rawTensor{name, m["dtype"].(string), shape, body[b:en]})
		begins[name] = b
	}
	sort.Slice(ts, func(i, j int) bool { return begins[ts[i].name] < begins[ts[j].name] })
	ts = edit(ts, meta)
	out := map[string]any{metadataKey: meta}
	var newBody []byte
	for _, rt := range ts {
		out[rt.name] = map[string]any{"dtype": rt.dtype, "shape": rt.shape, "data_offsets": []int{len(newBody), len(newBody) + len(rt.data)}}
		newBody = append(newBody, rt.data...)
	}
	return joinFile(t, out, newBody)
}

// replaceOnce replaces old in s, failing the test if it is absent (so an
// edit never silently becomes a no-op).
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not found", old)
	}
	return strings.Replace(s, old, new, 1)
}

func find(t *testing.T, ts []rawTensor, name string) int {
	for i := range ts {
		if ts[i].name == name {
			return i
		}
	}
	t.Fatalf("no tensor %q", name)
	return -1
}

// loadBoth loads a file through LoadBytes and through Load (from disk, so the
// memory-mapped path is exercised too) and returns the disk error after
// checking both fail alike.
func loadBoth(t *testing.T, data []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(path)
	if err == nil {
		ck.Close()
	}
	ckb, errBytes := LoadBytes("embedded:bad", data)
	if errBytes == nil {
		ckb.Close()
	}
	if (err == nil) != (errBytes == nil) {
		t.Fatalf("Load: %v; LoadBytes: %v", err, errBytes)
	}
	if err != nil {
		if !strings.HasPrefix(err.Error(), path) || !strings.HasPrefix(errBytes.Error(), "embedded:bad") {
			t.Errorf("errors do not start with the file name: %q / %q", err, errBytes)
		}
		if strings.TrimPrefix(err.Error(), path) != strings.TrimPrefix(errBytes.Error(), "embedded:bad") {
			t.Errorf("Load and LoadBytes disagree: %q / %q", err, errBytes)
		}
	}
	return err
}

func TestRebuildKeepsFileValid(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneHybrid, F32), func(ts []rawTensor, _ map[string]any) []rawTensor { return ts })
	if err := loadBoth(t, data); err != nil {
		t.Fatal(err)
	}
}

func TestRejectTooShort(t *testing.T) {
	wantError(t, loadBoth(t, []byte{1, 2, 3}), "3 bytes", "too short")
}

func TestRejectHeaderLengthPastEOF(t *testing.T) {
	data := microBytes(t, BackboneMamba, F32)
	binary.LittleEndian.PutUint64(data, uint64(len(data)))
	wantError(t, loadBoth(t, data), "header length", "header claims more bytes than the file has")
}

func TestRejectAbsurdHeaderLength(t *testing.T) {
	data := microBytes(t, BackboneMamba, F32)
	binary.LittleEndian.PutUint64(data, 1<<62)
	wantError(t, loadBoth(t, data), "header length 4611686018427387904 is absurd")
}

func TestRejectTruncatedFile(t *testing.T) {
	data := microBytes(t, BackboneMamba, F16)
	wantError(t, loadBoth(t, data[:len(data)-10]), `"final.linear.bias"`, "header claims more bytes than the file has")
}

func TestRejectOffsetsPastEOF(t *testing.T) {
	data := editHeader(t, microBytes(t, BackboneMamba, F32), func(h map[string]any) {
		entry(t, h, "blocks.0.norm1.weight")["data_offsets"] = []int{0, 1 << 40}
	})
	wantError(t, loadBoth(t, data), `"blocks.0.norm1.weight"`, "header claims more bytes than the file has")
}

func TestRejectOffsetsOutOfOrder(t *testing.T) {
	data := editHeader(t, microBytes(t, BackboneMamba, F32), func(h map[string]any) {
		entry(t, h, "blocks.0.norm1.weight")["data_offsets"] = []int{64, 32}
	})
	wantError(t, loadBoth(t, data), `"blocks.0.norm1.weight"`, "out of order")
}

func TestRejectOverlappingTensors(t *testing.T) {
	data := editHeader(t, microBytes(t, BackboneMamba, F32), func(h map[string]any) {
		// Point sigma_map.mlp.0.bias (8 bytes) into the embedding's bytes.
		entry(t, h, "sigma_map.mlp.0.bias")["data_offsets"] = []int{16, 24}
	})
	wantError(t, loadBoth(t, data), "overlap", `"sigma_map.mlp.0.bias"`)
}

func TestRejectGapInData(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, _ map[string]any) []rawTensor { return ts })
	// Drop a tensor's header entry but keep its bytes: they belong to no one.
	data = editHeader(t, data, func(h map[string]any) { delete(h, "final.norm.weight") })
	wantError(t, loadBoth(t, data), "unused bytes")
}

func TestRejectByteSizeMismatch(t *testing.T) {
	data := editHeader(t, microBytes(t, BackboneMamba, F32), func(h map[string]any) {
		entry(t, h, "final.norm.weight")["shape"] = []int{9}
	})
	wantError(t, loadBoth(t, data), `"final.norm.weight"`, "holds 16 bytes but shape [9] of F32 needs 36")
}

func TestRejectNegativeAndOverflowingShapes(t *testing.T) {
	data := editHeader(t, microBytes(t, BackboneMamba, F32), func(h map[string]any) {
		entry(t, h, "final.norm.weight")["shape"] = []int{-8}
	})
	wantError(t, loadBoth(t, data), `"final.norm.weight"`, "negative")
	data = editHeader(t, microBytes(t, BackboneMamba, F32), func(h map[string]any) {
		entry(t, h, "final.norm.weight")["shape"] = []int64{1 << 40, 1 << 40, 0}
	})
	wantError(t, loadBoth(t, data), `"final.norm.weight"`, "overflows")
	data = editHeader(t, microBytes(t, BackboneMamba, F32), func(h map[string]any) {
		entry(t, h, "final.norm.weight")["shape"] = []float64{1e30}
	})
	wantError(t, loadBoth(t, data), `"final.norm.weight"`)
}

func TestRejectWrongShape(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, _ map[string]any) []rawTensor {
		i := find(t, ts, "blocks.1.mlp.fc1.weight")
		ts[i].shape = []int{ts[i].shape[1], ts[i].shape[0]} // transposed: same bytes, wrong shape
		return ts
	})
	wantError(t, loadBoth(t, data), `"blocks.1.mlp.fc1.weight"`, "has shape [4 8], want [8 4]")
}

func TestRejectMissingTensor(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneHybrid, BF16), func(ts []rawTensor, _ map[string]any) []rawTensor {
		i := find(t, ts, "blocks.1.mixer.qkv.weight")
		return append(ts[:i], ts[i+1:]...)
	})
	wantError(t, loadBoth(t, data), "missing tensor", `"blocks.1.mixer.qkv.weight"`)
}

func TestRejectUnexpectedTensor(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, _ map[string]any) []rawTensor {
		return append(ts, rawTensor{"blocks.0.mixer.fwd.extra", "F32", []int{2}, make([]byte, 8)})
	})
	wantError(t, loadBoth(t, data), "unexpected tensor", `"blocks.0.mixer.fwd.extra"`)
	// A head stored although the config ties it to the embedding.
	data = rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, meta map[string]any) []rawTensor {
		cfg := microConfig(t, BackboneMamba)
		cfg.TieEmbeddings = true
		js, _ := json.Marshal(cfg)
		meta["config"] = string(js)
		return ts
	})
	wantError(t, loadBoth(t, data), "unexpected tensor", `"final.linear.weight"`, "tie_embeddings")
}

func TestRejectUnknownDType(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, _ map[string]any) []rawTensor {
		i := find(t, ts, "blocks.0.mixer.rev.D")
		ts[i].dtype = "F64"
		ts[i].data = append(ts[i].data, ts[i].data...) // 8 bytes per element
		return ts
	})
	wantError(t, loadBoth(t, data), `"blocks.0.mixer.rev.D"`, `unknown dtype "F64"`)
}

func TestRejectUnknownFormat(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, meta map[string]any) []rawTensor {
		meta["config"] = replaceOnce(t, meta["config"].(string), FormatV1, "diffuapriel/v9")
		return ts
	})
	wantError(t, loadBoth(t, data), "__metadata__.config", `"format"`, "diffuapriel/v9")
	data = rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, meta map[string]any) []rawTensor {
		meta["format"] = "diffuapriel/v9"
		return ts
	})
	wantError(t, loadBoth(t, data), "__metadata__.format", "diffuapriel/v9")
}

func TestRejectBadConfigField(t *testing.T) {
	data := rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, meta map[string]any) []rawTensor {
		meta["config"] = replaceOnce(t, meta["config"].(string), `"d_model":4`, `"d_model":-4`)
		return ts
	})
	wantError(t, loadBoth(t, data), "__metadata__.config", `"d_model"`)
	data = rebuild(t, microBytes(t, BackboneMamba, F32), func(ts []rawTensor, meta map[string]any) []rawTensor {
		meta["config"] = "{not json"
		return ts
	})
	wantError(t, loadBoth(t, data), "__metadata__.config")
}

func TestRejectNaNInBF16(t *testing.T) {
	data := setElement(t, microBytes(t, BackboneMamba, BF16), "blocks.1.mixer.fwd.in_proj.weight", 5, 0x7fc0, 2)
	wantError(t, loadBoth(t, data), `"blocks.1.mixer.fwd.in_proj.weight"`, "element 5 is NaN")
}

func TestRejectInfInF16(t *testing.T) {
	data := setElement(t, microBytes(t, BackboneTransformer, F16), "final.adaLN_modulation.bias", 0, 0xfc00, 2)
	wantError(t, loadBoth(t, data), `"final.adaLN_modulation.bias"`, "element 0 is -Inf")
}

func TestRejectNaNInF32(t *testing.T) {
	data := setElement(t, microBytes(t, BackboneHybrid, F32), "vocab_embed.weight", 31, math.Float32bits(float32(math.NaN())), 4)
	wantError(t, loadBoth(t, data), `"vocab_embed.weight"`, "element 31 is NaN")
}

func TestRejectMalformedHeaders(t *testing.T) {
	valid := microBytes(t, BackboneMamba, F32)
	_, body := splitFile(t, valid)
	withHeader := func(header string) []byte {
		out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		return append(append(out, header...), body...)
	}
	h, _ := splitFile(t, valid)
	good, _ := json.Marshal(h)
	cases := []struct {
		header string
		want   []string
	}{
		{`{"a": `, []string{"malformed JSON"}},
		{`[1, 2]`, []string{"not an object"}},
		{string(good) + `{}`, []string{"data after the header object"}},
		{`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, []string{`duplicate tensor "x"`}},
		{`{"__metadata__":{"config":3}}`, []string{"__metadata__ must map strings to strings"}},
		{`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"crc":1}}`, []string{`tensor "x"`, `unknown field "crc"`}},
		{`{"x":{"dtype":"F32","data_offsets":[0,4]}}`, []string{`tensor "x"`, "needs dtype, shape and data_offsets"}},
		{`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, []string{`tensor "x"`, "data_offsets has 1 entries"}},
		{`{"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, []string{`tensor "x"`, "17 dimensions"}},
		{`{"x":"y"}`, []string{`tensor "x"`, "bad entry"}},
	}
	for _, c := range cases {
		wantError(t, loadBoth(t, withHeader(c.header)), c.want...)
	}
	// Trailing spaces are the format's own padding and are fine.
	if err := loadBoth(t, withHeader(string(good)+"       ")); err != nil {
		t.Fatal(err)
	}
}

func TestLoadBytesValid(t *testing.T) {
	for _, dtype := range allDTypes {
		ck, err := LoadBytes("embedded:micro", microBytes(t, BackboneHybrid, dtype))
		if err != nil {
			t.Fatal(err)
		}
		if ck.Path != "embedded:micro" || ck.Config.DModel != 4 || ck.Weights.Blocks[1].Attention == nil {
			t.Errorf("%s: path %q config %+v", dtype, ck.Path, ck.Config)
		}
		ck.Close()
	}
}
