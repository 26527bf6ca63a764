package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// dirFS copies a directory's files into an in-memory FS under prefix, the
// way an embedded file system presents them.
func dirFS(t *testing.T, dir, prefix string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fsys[prefix+"/"+e.Name()] = &fstest.MapFile{Data: data}
	}
	return fsys
}

func TestLoadFSShardedAndSingle(t *testing.T) {
	cfg, err := Preset("tiny", BackboneHybrid)
	if err != nil {
		t.Fatal(err)
	}
	w := RandomInit(cfg, 3)
	sharded := t.TempDir()
	if err := SaveSharded(sharded, w, BF16, 2<<20, false); err != nil {
		t.Fatal(err)
	}
	single := t.TempDir()
	if err := Save(filepath.Join(single, SingleFileName), w, F16, false); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"sharded": sharded, "single": single} {
		fromDisk, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		fromFS, err := LoadFS(dirFS(t, dir, "demo/m"), "demo/m", "embedded:m")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a, b := Float32s(fromDisk.Weights.Blocks[1].Attention.QKV), Float32s(fromFS.Weights.Blocks[1].Attention.QKV)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: embedded and on-disk weights differ at %d", name, i)
			}
		}
		if fromFS.FileBytes != fromDisk.FileBytes {
			t.Fatalf("%s: FileBytes %d vs %d", name, fromFS.FileBytes, fromDisk.FileBytes)
		}
		fromDisk.Close()
	}
	// A shard missing from the embedded files is named.
	fsys := dirFS(t, sharded, "m")
	for k := range fsys {
		if strings.Contains(k, "model-00002") {
			delete(fsys, k)
		}
	}
	if _, err := LoadFS(fsys, "m", "embedded:m"); err == nil || !strings.Contains(err.Error(), "embedded:m/model-00002") {
		t.Fatalf("missing shard error = %v", err)
	}
}
