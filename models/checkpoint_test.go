package models

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

var allDTypes = []DType{F32, F16, BF16}
var allBackbones = []string{BackboneMamba, BackboneHybrid, BackboneTransformer}

// The tiny preset of every backbone survives Save/Load in every dtype: same
// config, same tensors (exactly for F32, to dtype precision otherwise), and
// saving the loaded model again in its own dtype gives identical bytes.
func TestSaveLoadRoundTripTiny(t *testing.T) {
	dir := t.TempDir()
	for _, backbone := range allBackbones {
		cfg, err := Preset("tiny", backbone)
		if err != nil {
			t.Fatal(err)
		}
		w := RandomInit(cfg, 1)
		for _, dtype := range allDTypes {
			path := filepath.Join(dir, backbone+"-"+string(dtype)+".safetensors")
			if err := Save(path, w, dtype, false); err != nil {
				t.Fatal(err)
			}
			ck, err := Load(path)
			if err != nil {
				t.Fatalf("%s %s: %v", backbone, dtype, err)
			}
			if !reflect.DeepEqual(ck.Config, cfg) {
				t.Errorf("%s %s: config changed:\n%+v\n%+v", backbone, dtype, ck.Config, cfg)
			}
			if ck.Weights.Head != ck.Weights.VocabEmbed {
				t.Errorf("%s %s: tied head is not the embedding", backbone, dtype)
			}
			tol := map[DType]float64{F32: 0, F16: 1.0 / 1024, BF16: 1.0 / 128}[dtype]
			sameWeights(t, w, ck.Weights, tol)
			info, _ := os.Stat(path)
			if ck.FileBytes != info.Size() || ck.Path != path {
				t.Errorf("FileBytes %d Path %q, want %d %q", ck.FileBytes, ck.Path, info.Size(), path)
			}
			again := path + ".again"
			if err := Save(again, ck.Weights, dtype, false); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(path)
			b, _ := os.ReadFile(again)
			if !bytes.Equal(a, b) {
				t.Errorf("%s %s: re-saving a loaded checkpoint changed its bytes", backbone, dtype)
			}
			if err := ck.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The written file follows the format: metadata format and config, the
// header padded with spaces to 8-byte data alignment, tensors in spec order,
// no final.linear.weight when tied, and F32 tensors viewed without copying.
func TestSaveLayout(t *testing.T) {
	cfg, _ := Preset("tiny", BackboneHybrid)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(path, RandomInit(cfg, 3), F32, false); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	h, _ := splitFile(t, data)
	if n := binary.LittleEndian.Uint64(data); (8+n)%8 != 0 {
		t.Errorf("header of %d bytes leaves data unaligned", n)
	}
	meta := h[metadataKey].(map[string]any)
	if meta["format"] != FormatV1 {
		t.Errorf("metadata format %v", meta["format"])
	}
	if _, err := ParseConfig([]byte(meta["config"].(string))); err != nil {
		t.Errorf("metadata config: %v", err)
	}
	if _, ok := h["final.linear.weight"]; ok {
		t.Error("tied checkpoint stores final.linear.weight")
	}
	var prevEnd float64
	for _, s := range TensorSpecs(cfg) {
		offs := entry(t, h, s.Name)["data_offsets"].([]any)
		if offs[0].(float64) != prevEnd {
			t.Fatalf("tensor %q starts at %v, want %v (spec order)", s.Name, offs[0], prevEnd)
		}
		prevEnd = offs[1].(float64)
	}
	ck, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	emb := ck.Weights.VocabEmbed
	if f := Float32s(emb); &f[0] != (*float32)(unsafe.Pointer(&emb.Data[0])) {
		t.Error("aligned F32 data was copied instead of viewed")
	}
}

// A directory holding model.safetensors loads, and so does one whose config
// lives only in config.json.
func TestLoadDirectoryAndConfigJSONOnly(t *testing.T) {
	cfg := microConfig(t, BackboneMamba)
	w := RandomInit(cfg, 7)
	data := microBytes(t, BackboneMamba, F32)
	dir := t.TempDir()
	// Strip the metadata config; keep it only in config.json.
	stripped := editHeader(t, data, func(h map[string]any) { delete(h[metadataKey].(map[string]any), "config") })
	if err := os.WriteFile(filepath.Join(dir, SingleFileName), stripped, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("loaded a checkpoint without any config")
	} else {
		wantError(t, err, "no model config", ConfigFileName)
	}
	js, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, ConfigFileName), js, 0o644)
	ck, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if !reflect.DeepEqual(ck.Config, cfg) || ck.Path != filepath.Join(dir, SingleFileName) {
		t.Errorf("config %+v path %q", ck.Config, ck.Path)
	}
	sameWeights(t, w, ck.Weights, 0)
}

// config.json beside a checkpoint must agree with the metadata config.
func TestConfigJSONMustAgree(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, SingleFileName), microBytes(t, BackboneMamba, F32), 0o644)
	cfg := microConfig(t, BackboneMamba)
	js, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, ConfigFileName), js, 0o644)
	ck, err := Load(dir)
	if err != nil {
		t.Fatalf("agreeing config.json: %v", err)
	}
	ck.Close()
	cfg.NormEps = 1e-6
	js, _ = json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, ConfigFileName), js, 0o644)
	_, err = Load(dir)
	wantError(t, err, ConfigFileName, "disagrees", "norm_eps")
}

func TestSaveShardedRoundTrip(t *testing.T) {
	for _, dtype := range allDTypes {
		cfg := microConfig(t, BackboneHybrid)
		w := RandomInit(cfg, 9)
		dir := filepath.Join(t.TempDir(), "ck")
		if err := SaveSharded(dir, w, dtype, 500, false); err != nil {
			t.Fatal(err)
		}
		shards, _ := filepath.Glob(filepath.Join(dir, "model-*-of-*.safetensors"))
		if len(shards) < 3 {
			t.Fatalf("%s: %d shards, want several", dtype, len(shards))
		}
		for _, path := range []string{dir, filepath.Join(dir, IndexFileName)} {
			ck, err := Load(path)
			if err != nil {
				t.Fatalf("%s: %v", dtype, err)
			}
			if !reflect.DeepEqual(ck.Config, cfg) {
				t.Errorf("config changed")
			}
			tol := map[DType]float64{F32: 0, F16: 1.0 / 1024, BF16: 1.0 / 128}[dtype]
			sameWeights(t, w, ck.Weights, tol)
			ck.Close()
		}
		if err := SaveSharded(dir, w, dtype, 500, false); err == nil {
			t.Error("SaveSharded overwrote without force")
		} else {
			wantError(t, err, "already exists (pass --force to overwrite")
		}
		// Forcing a save with fewer shards removes the stale ones.
		if err := SaveSharded(dir, w, dtype, 1<<30, true); err != nil {
			t.Fatal(err)
		}
		shards, _ = filepath.Glob(filepath.Join(dir, "model-*.safetensors"))
		if len(shards) != 1 || filepath.Base(shards[0]) != "model-00001-of-00001.safetensors" {
			t.Errorf("after forced re-save: %v", shards)
		}
		ck, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		ck.Close()
	}
}

// shardedDir writes a sharded micro checkpoint and returns its directory and
// shard names.
func shardedDir(t *testing.T) (string, []string) {
	dir := t.TempDir()
	if err := SaveSharded(dir, RandomInit(microConfig(t, BackboneMamba), 2), F32, 500, true); err != nil {
		t.Fatal(err)
	}
	shards, _ := filepath.Glob(filepath.Join(dir, "model-*-of-*.safetensors"))
	for i := range shards {
		shards[i] = filepath.Base(shards[i])
	}
	if len(shards) < 4 {
		t.Fatalf("only %d shards", len(shards))
	}
	return dir, shards
}

func TestShardedMissingShard(t *testing.T) {
	dir, shards := shardedDir(t)
	missing := filepath.Join(dir, shards[1])
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	wantError(t, err, IndexFileName, missing, "missing")
}

func TestShardedWeightMapMismatch(t *testing.T) {
	dir, shards := shardedDir(t)
	indexPath := filepath.Join(dir, IndexFileName)
	raw, _ := os.ReadFile(indexPath)
	var orig shardIndex
	if err := json.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	// loadEdited loads the checkpoint with an edited copy of the weight_map.
	loadEdited := func(edit func(wm map[string]string)) error {
		idx := shardIndex{Metadata: orig.Metadata, WeightMap: map[string]string{}}
		for k, v := range orig.WeightMap {
			idx.WeightMap[k] = v
		}
		edit(idx.WeightMap)
		out, _ := json.Marshal(idx)
		os.WriteFile(indexPath, out, 0o644)
		ck, err := Load(dir)
		if err == nil {
			ck.Close()
		}
		return err
	}
	perShard := map[string]int{}
	for _, shard := range orig.WeightMap {
		perShard[shard]++
	}
	var shared, alone string // a tensor sharing its shard, one alone in its shard
	for _, s := range TensorSpecs(microConfig(t, BackboneMamba)) {
		if n := perShard[orig.WeightMap[s.Name]]; n > 1 && shared == "" {
			shared = s.Name
		} else if n == 1 && alone == "" {
			alone = s.Name
		}
	}
	if shared == "" || alone == "" {
		t.Fatalf("fixture lacks a shared or a lone tensor: %v", perShard)
	}
	other := shards[0]
	if other == orig.WeightMap[shared] {
		other = shards[1]
	}

	wantError(t, loadEdited(func(wm map[string]string) { wm[shared] = other }), shared, "weight_map")
	wantError(t, loadEdited(func(wm map[string]string) { delete(wm, shared) }), shared, "not in the weight_map")
	wantError(t, loadEdited(func(wm map[string]string) { wm["blocks.0.norm9.weight"] = shards[0] }),
		"blocks.0.norm9.weight", "does not hold it")
	// Dropping a tensor that fills a shard drops the shard from the map: the
	// numbering gap gives it away.
	wantError(t, loadEdited(func(wm map[string]string) { delete(wm, alone) }),
		"weight_map names", "but no tensor in "+orig.WeightMap[alone])
	wantError(t, loadEdited(func(wm map[string]string) { wm[shared] = "../" + orig.WeightMap[shared] }),
		shared, "not a .safetensors file name")
	if err := loadEdited(func(map[string]string) {}); err != nil {
		t.Fatalf("unedited index: %v", err)
	}
}

func TestShardedTotalSize(t *testing.T) {
	dir, _ := shardedDir(t)
	indexPath := filepath.Join(dir, IndexFileName)
	raw, _ := os.ReadFile(indexPath)
	os.WriteFile(indexPath, []byte(strings.Replace(string(raw), `"total_size": `, `"total_size": 1`, 1)), 0o644)
	_, err := Load(dir)
	wantError(t, err, "total_size")
}

func TestLoadDirectoryErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	wantError(t, err, dir, SingleFileName, IndexFileName)
	_, err = Load(filepath.Join(dir, "absent.safetensors"))
	wantError(t, err, "absent.safetensors")
	js, _ := json.Marshal(microConfig(t, BackboneMamba))
	os.WriteFile(filepath.Join(dir, ConfigFileName), js, 0o644)
	_, err = Load(filepath.Join(dir, ConfigFileName))
	wantError(t, err, ConfigFileName, "not a shard index")
}

func TestSaveRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	w := RandomInit(microConfig(t, BackboneMamba), 1)
	if err := Save(path, w, F32, false); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := Save(path, RandomInit(microConfig(t, BackboneMamba), 2), F32, false)
	wantError(t, err, "cannot write "+path+": it already exists (pass --force to overwrite it)")
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("refused save changed the file")
	}
	if err := Save(path, RandomInit(microConfig(t, BackboneMamba), 2), F32, true); err != nil {
		t.Fatal(err)
	}
	forced, _ := os.ReadFile(path)
	if bytes.Equal(before, forced) {
		t.Fatal("forced save did not replace the file")
	}
}

// A save that fails part-way (here: a value out of F16 range, found after
// earlier tensors were written) leaves the existing file untouched and no
// temp file behind.
func TestFailedSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	cfg := microConfig(t, BackboneMamba)
	if err := Save(path, RandomInit(cfg, 1), F16, false); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	w := RandomInit(cfg, 2)
	vals := Float32s(w.FinalNorm)
	big := append([]float32(nil), vals...)
	big[3] = 1e6
	*w.FinalNorm = *NewTensor(w.FinalNorm.Name, w.FinalNorm.Shape, big, F32)
	err := Save(path, w, F16, true)
	wantError(t, err, "final.norm.weight", "element 3", "+Inf", "F16")
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("failed save changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestSaveRejectsBadWeights(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	w := RandomInit(microConfig(t, BackboneMamba), 1)
	wantError(t, Save(path, w, "F64", false), `unknown dtype "F64"`)
	w.Blocks[1].Mamba[1].ALog = nil
	wantError(t, Save(path, w, F32, false), "blocks.1.mixer.rev.A_log", "missing")
	if fileExists(path) {
		t.Fatal("a rejected save created the file")
	}
}

// The engine's golden fixtures are written by the PyTorch exporter
// (train/diffuapriel/checkpoint.py), single-file and sharded, in every dtype:
// the Go loader must read them, and re-saving one in its own dtype must keep
// every value.
func TestLoadPyTorchExports(t *testing.T) {
	dirs, _ := filepath.Glob("../engine/testdata/fixtures/*/checkpoint")
	if len(dirs) == 0 {
		t.Fatal("no PyTorch-exported fixtures under ../engine/testdata/fixtures")
	}
	sharded := false
	for _, dir := range dirs {
		ck, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		sharded = sharded || strings.HasSuffix(ck.Path, IndexFileName)
		dtype := ck.Weights.VocabEmbed.DType
		path := filepath.Join(t.TempDir(), "resaved.safetensors")
		if err := Save(path, ck.Weights, dtype, false); err != nil {
			t.Fatal(err)
		}
		again, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		sameWeights(t, ck.Weights, again.Weights, 0)
		again.Close()
		ck.Close()
	}
	if !sharded {
		t.Error("no sharded fixture among", dirs)
	}
}
