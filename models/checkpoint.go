package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Names of the files of a checkpoint directory (Hugging Face layout).
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
	ConfigFileName = "config.json"
)

// Checkpoint is a loaded, fully validated model. Its tensors are usually
// views of read-only memory maps: keep the Checkpoint open while Weights are
// in use, never write to tensor data, and Close it when done.
type Checkpoint struct {
	Config  *Config
	Weights *Weights
	// Path is the file that was loaded: the .safetensors file or the index.
	Path string
	// FileBytes is the total size of the safetensors file(s).
	FileBytes int64

	unmaps []func() error
}

// Close releases the memory maps; tensors of the checkpoint are invalid after it.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, unmap := range c.unmaps {
		errs = append(errs, unmap())
	}
	c.unmaps = nil
	return errors.Join(errs...)
}

// Load opens a checkpoint: a .safetensors file, a model.safetensors.index.json
// (sharded), or a directory holding model.safetensors or the index. Every
// tensor is validated (names, shapes, dtypes, every value finite) before it
// returns; every error is one line naming the file and the tensor or field.
func Load(path string) (*Checkpoint, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		single := filepath.Join(path, SingleFileName)
		index := filepath.Join(path, IndexFileName)
		hasSingle, hasIndex := fileExists(single), fileExists(index)
		switch {
		case hasSingle && hasIndex:
			return nil, fmt.Errorf("%s: holds both %s and %s; name the one to load", path, SingleFileName, IndexFileName)
		case hasSingle:
			path = single
		case hasIndex:
			path = index
		default:
			return nil, fmt.Errorf("%s: no %s or %s in this directory", path, SingleFileName, IndexFileName)
		}
	}
	src := osSource(filepath.Dir(path))
	if strings.HasSuffix(path, ".json") {
		return loadSharded(src, filepath.Base(path))
	}
	return loadSingle(src, filepath.Base(path))
}

// LoadFS opens the checkpoint in directory dir of fsys (model.safetensors or
// the sharded index), for checkpoints built into the binary with go:embed.
// Files are read into memory; errors name them as label/NAME.
func LoadFS(fsys fs.FS, dir, label string) (*Checkpoint, error) {
	src := source{
		label: func(name string) string { return label + "/" + name },
		readFile: func(name string) ([]byte, error) {
			return fs.ReadFile(fsys, path.Join(dir, name))
		},
	}
	src.openTensors = func(c *Checkpoint, name string) (*safetensorsFile, error) {
		data, err := src.readFile(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", src.label(name), err)
		}
		c.FileBytes += int64(len(data))
		return parseSafetensors(src.label(name), data)
	}
	if _, err := fs.Stat(fsys, path.Join(dir, IndexFileName)); err == nil {
		return loadSharded(src, IndexFileName)
	}
	return loadSingle(src, SingleFileName)
}

// source is where a checkpoint's files come from: a directory of the file
// system (tensor files memory-mapped) or an fs.FS such as embedded files.
type source struct {
	label       func(name string) string // how messages name a file
	readFile    func(name string) ([]byte, error)
	openTensors func(c *Checkpoint, name string) (*safetensorsFile, error)
}

func osSource(dir string) source {
	join := func(name string) string { return filepath.Join(dir, name) }
	return source{
		label:       join,
		readFile:    func(name string) ([]byte, error) { return readSmallFile(join(name)) },
		openTensors: func(c *Checkpoint, name string) (*safetensorsFile, error) { return c.openSafetensors(join(name)) },
	}
}

// readSmallFile reads an index or config.json, refusing anything larger
// than a header could be, so a wrong path never reads gigabytes.
func readSmallFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > maxHeaderBytes {
		return nil, fmt.Errorf("%s: %d bytes is too large for an index or config (limit %d)", path, info.Size(), maxHeaderBytes)
	}
	return os.ReadFile(path)
}

// exists reports whether a file can be read from the source.
func (s source) exists(name string) bool {
	_, err := s.readFile(name)
	return err == nil
}

// LoadBytes loads a single-file checkpoint held in memory (e.g. embedded in
// the binary); name labels it in errors. The config must be in the file's
// metadata. The tensors alias data, which must not change afterwards.
func LoadBytes(name string, data []byte) (*Checkpoint, error) {
	f, err := parseSafetensors(name, data)
	if err != nil {
		return nil, err
	}
	cfg, err := resolveConfig(name, f.metadata, source{}, "")
	if err != nil {
		return nil, err
	}
	w, err := bindStrict(name, cfg, f.tensors)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Config: cfg, Weights: w, Path: name, FileBytes: int64(len(data))}, nil
}

func loadSingle(src source, name string) (*Checkpoint, error) {
	path := src.label(name)
	ck := &Checkpoint{Path: path}
	f, err := src.openTensors(ck, name)
	if err != nil {
		ck.Close()
		return nil, err
	}
	cfg, err := resolveConfig(path, f.metadata, src, ConfigFileName)
	if err == nil {
		ck.Config = cfg
		ck.Weights, err = bindStrict(path, cfg, f.tensors)
	}
	if err != nil {
		ck.Close()
		return nil, err
	}
	return ck, nil
}

// shardIndex is model.safetensors.index.json.
type shardIndex struct {
	Metadata  map[string]json.RawMessage `json:"metadata"`
	WeightMap map[string]string          `json:"weight_map"`
}

func loadSharded(src source, indexName string) (*Checkpoint, error) {
	indexPath := src.label(indexName)
	idx, err := readShardIndex(src, indexName)
	if err != nil {
		return nil, err
	}
	var shardNames []string
	seen := map[string]bool{}
	for tensor, shard := range idx.WeightMap {
		if shard != filepath.Base(shard) || shard == "." || shard == ".." || !strings.HasSuffix(shard, ".safetensors") {
			return nil, fmt.Errorf("%s: weight_map puts tensor %q in %q, which is not a .safetensors file name in this directory", indexPath, tensor, shard)
		}
		if !seen[shard] {
			seen[shard] = true
			shardNames = append(shardNames, shard)
		}
	}
	if len(shardNames) == 0 {
		return nil, fmt.Errorf("%s: weight_map is empty", indexPath)
	}
	sort.Strings(shardNames)
	if err := checkShardNumbering(indexPath, shardNames); err != nil {
		return nil, err
	}

	ck := &Checkpoint{Path: indexPath}
	var all []*Tensor
	var firstMeta map[string]string
	var totalBytes int64
	for i, shard := range shardNames {
		path := src.label(shard)
		if !src.exists(shard) {
			ck.Close()
			return nil, fmt.Errorf("%s: shard %s listed in weight_map is missing", indexPath, path)
		}
		f, err := src.openTensors(ck, shard)
		if err != nil {
			ck.Close()
			return nil, err
		}
		held := map[string]bool{}
		for _, t := range f.tensors {
			held[t.Name] = true
			if want, ok := idx.WeightMap[t.Name]; !ok || want != shard {
				ck.Close()
				if !ok {
					return nil, fmt.Errorf("%s: tensor %q is not in the weight_map of %s", path, t.Name, indexPath)
				}
				return nil, fmt.Errorf("%s: holds tensor %q, which weight_map puts in %s", path, t.Name, want)
			}
			totalBytes += int64(len(t.Data))
		}
		for tensor, want := range idx.WeightMap {
			if want == shard && !held[tensor] {
				ck.Close()
				return nil, fmt.Errorf("%s: weight_map puts tensor %q in this shard, which does not hold it", path, tensor)
			}
		}
		if i == 0 {
			firstMeta = f.metadata
		} else if err := sameMetadataConfig(path, f.metadata, shardNames[0], firstMeta); err != nil {
			ck.Close()
			return nil, err
		}
		all = append(all, f.tensors...)
	}
	if raw, ok := idx.Metadata["total_size"]; ok {
		var total float64 // HF writes an integer; some writers a float
		if err := json.Unmarshal(raw, &total); err != nil || total != float64(totalBytes) {
			ck.Close()
			return nil, fmt.Errorf("%s: metadata.total_size is %s but the shards hold %d tensor bytes", indexPath, raw, totalBytes)
		}
	}
	cfg, err := resolveConfig(src.label(shardNames[0]), firstMeta, src, ConfigFileName)
	if err == nil {
		ck.Config = cfg
		ck.Weights, err = bindStrict(indexPath, cfg, all)
	}
	if err != nil {
		ck.Close()
		return nil, err
	}
	return ck, nil
}

// checkShardNumbering requires that when the weight_map names a Hugging Face
// shard model-K-of-N, it names every one of the N, so a tensor dropped from
// the map together with its whole shard is still noticed.
func checkShardNumbering(indexPath string, shardNames []string) error {
	named := map[string]bool{}
	for _, s := range shardNames {
		named[s] = true
	}
	for _, s := range shardNames {
		if !shardPattern.MatchString(s) {
			continue
		}
		k, _ := strconv.Atoi(s[6:11]) // the pattern guarantees five digits in each place
		n, _ := strconv.Atoi(s[15:20])
		if k < 1 || k > n {
			return fmt.Errorf("%s: weight_map names shard %s, whose number is outside 1..%d", indexPath, s, n)
		}
		for j := 1; j <= n; j++ {
			if other := fmt.Sprintf(shardNameFormat, j, n); !named[other] {
				return fmt.Errorf("%s: weight_map names %s but no tensor in %s", indexPath, s, other)
			}
		}
	}
	return nil
}

// readShardIndex reads and strictly decodes an index file.
func readShardIndex(src source, name string) (*shardIndex, error) {
	path := src.label(name)
	data, err := src.readFile(name)
	if err != nil {
		return nil, err
	}
	if len(data) > maxHeaderBytes {
		return nil, fmt.Errorf("%s: index is %d bytes (limit %d); not a shard index", path, len(data), maxHeaderBytes)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("%s: malformed index: %v", path, err)
	}
	if _, ok := fields["weight_map"]; !ok {
		return nil, fmt.Errorf("%s: not a shard index (no weight_map); give the .safetensors file, the index or their directory", path)
	}
	var idx shardIndex
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("%s: malformed index: %v", path, err)
	}
	return &idx, nil
}

// openSafetensors maps (or, failing that, reads) a file and parses it,
// recording the mapping so Close releases it.
func (c *Checkpoint) openSafetensors(path string) (*safetensorsFile, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a safetensors file", path)
	}
	if info.Size() > math.MaxInt {
		return nil, fmt.Errorf("%s: %d bytes is too large to map on this platform", path, info.Size())
	}
	data, unmap, err := mapFile(file, int(info.Size()))
	if err != nil { // empty files, pipes, platforms without mmap: read instead
		if data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	} else {
		c.unmaps = append(c.unmaps, unmap)
	}
	c.FileBytes += int64(len(data))
	return parseSafetensors(path, data)
}

// resolveConfig finds the model config. Precedence: the "config" entry of the
// (first) file's __metadata__ is authoritative, because it travels inside the
// checkpoint; config.json beside the checkpoint is used when the metadata has
// none. When both exist they must describe the same model, and a config.json
// that disagrees is an error naming it, so a stale config.json next to a
// newer checkpoint is caught rather than silently ignored or obeyed.
// configName is "" when there is no directory to look in.
func resolveConfig(fileName string, metadata map[string]string, src source, configName string) (*Config, error) {
	configJSONPath := ""
	if configName != "" {
		configJSONPath = src.label(configName)
	}
	if format, ok := metadata["format"]; ok && strings.HasPrefix(format, "diffuapriel/") && format != FormatV1 {
		// Other writers (e.g. transformers' "pt") use this key for their own purposes.
		return nil, fmt.Errorf("%s: __metadata__.format is %q; this build reads %q", fileName, format, FormatV1)
	}
	var fromMeta, fromFile *Config
	if text, ok := metadata["config"]; ok {
		c, err := ParseConfig([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("%s: __metadata__.config: %v", fileName, err)
		}
		fromMeta = c
	}
	if configName != "" {
		data, err := src.readFile(configName)
		switch {
		case err == nil:
			c, err := ParseConfig(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", configJSONPath, err)
			}
			fromFile = c
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	switch {
	case fromMeta != nil && fromFile != nil:
		if !reflect.DeepEqual(fromMeta, fromFile) {
			return nil, fmt.Errorf("%s: disagrees with the config in %s __metadata__ (field %s); fix or remove %s", configJSONPath, fileName, firstConfigDifference(fromMeta, fromFile), ConfigFileName)
		}
		return fromMeta, nil
	case fromMeta != nil:
		return fromMeta, nil
	case fromFile != nil:
		return fromFile, nil
	}
	if configJSONPath == "" {
		return nil, fmt.Errorf("%s: no model config (__metadata__ has no \"config\" entry)", fileName)
	}
	return nil, fmt.Errorf("%s: no model config (__metadata__ has no \"config\" entry and there is no %s)", fileName, configJSONPath)
}

// sameMetadataConfig checks that a later shard carrying its own config agrees
// with the first shard's.
func sameMetadataConfig(path string, metadata map[string]string, firstName string, firstMeta map[string]string) error {
	text, ok := metadata["config"]
	if !ok {
		return nil
	}
	first, ok := firstMeta["config"]
	if !ok {
		return fmt.Errorf("%s: has __metadata__.config but the first shard %s has none", path, firstName)
	}
	a, errA := ParseConfig([]byte(text))
	b, errB := ParseConfig([]byte(first))
	if errA != nil {
		return fmt.Errorf("%s: __metadata__.config: %v", path, errA)
	}
	if errB == nil && !reflect.DeepEqual(a, b) {
		return fmt.Errorf("%s: __metadata__.config disagrees with the first shard %s (field %s)", path, firstName, firstConfigDifference(b, a))
	}
	return nil // a broken first config is reported by resolveConfig
}

// firstConfigDifference names the first JSON field in which two configs differ.
func firstConfigDifference(a, b *Config) string {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			tag := va.Type().Field(i).Tag.Get("json")
			return strings.Split(tag, ",")[0]
		}
	}
	return "?"
}

// bindStrict binds tensors to the config (missing tensor, wrong shape), then
// rejects any tensor the spec does not know and any NaN/Inf value.
func bindStrict(label string, cfg *Config, tensors []*Tensor) (*Weights, error) {
	byName := make(map[string]*Tensor, len(tensors))
	for _, t := range tensors {
		if _, dup := byName[t.Name]; dup { // only possible across shards
			return nil, fmt.Errorf("%s: tensor %q is stored twice", label, t.Name)
		}
		byName[t.Name] = t
	}
	w, err := Bind(cfg, func(name string) (*Tensor, bool) {
		t, ok := byName[name]
		return t, ok
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", label, err)
	}
	known := map[string]bool{}
	for _, s := range TensorSpecs(cfg) {
		known[s.Name] = true
	}
	for _, t := range tensors {
		if !known[t.Name] {
			why := "not in the spec for this config"
			if t.Name == "final.linear.weight" && cfg.TieEmbeddings {
				why = "tie_embeddings is true, so the head is vocab_embed.weight"
			}
			return nil, fmt.Errorf("%s: unexpected tensor %q (%s)", label, t.Name, why)
		}
	}
	if err := checkFinite(tensors); err != nil {
		return nil, fmt.Errorf("%s: %v", label, err)
	}
	return w, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
