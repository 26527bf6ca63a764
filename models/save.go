package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"diffuapriel/atomicfile"
)

// tensorBytes produces the stored bytes of the i-th spec in the target dtype.
type tensorBytes func(i int) ([]byte, error)

// Save writes w as one safetensors file: the config JSON in
// __metadata__["config"] (and "format": FormatV1), tensors in TensorSpecs
// order, every tensor converted to dtype, data 8-byte aligned. With tied
// embeddings no final.linear.weight is stored. The write is atomic (temp file
// in the same directory, fsync, rename); an existing file is refused unless
// force, and is never damaged by a failed save.
func Save(path string, w *Weights, dtype DType, force bool) error {
	specs, source, err := saveSource(w, dtype)
	if err != nil {
		return fmt.Errorf("save %s: %v", path, err)
	}
	meta, err := fileMetadata(w.Config)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, force, func(out io.Writer) error {
		return writeSafetensors(out, meta, specs, dtype, source)
	})
}

// SaveSharded writes w in the Hugging Face sharded layout into dir:
// model-0000K-of-0000N.safetensors shards of at most maxShardBytes each (a
// larger tensor gets a shard of its own), model.safetensors.index.json and
// config.json. Every file is written atomically, the index last, so the old
// index stays readable until the new shards are complete. Existing files are
// refused unless force; with force, shards of an earlier save that the new
// index no longer names are removed.
func SaveSharded(dir string, w *Weights, dtype DType, maxShardBytes int64, force bool) error {
	if maxShardBytes <= 0 {
		return fmt.Errorf("save %s: maximum shard size must be positive, got %d", dir, maxShardBytes)
	}
	specs, source, err := saveSource(w, dtype)
	if err != nil {
		return fmt.Errorf("save %s: %v", dir, err)
	}
	meta, err := fileMetadata(w.Config)
	if err != nil {
		return err
	}
	groups := packShards(specs, dtype, maxShardBytes)
	names := make([]string, len(groups))
	for k := range groups {
		names[k] = fmt.Sprintf(shardNameFormat, k+1, len(groups))
	}
	targets := append([]string{IndexFileName, ConfigFileName}, names...)
	if !force {
		for _, name := range targets {
			if p := filepath.Join(dir, name); fileExists(p) {
				return fmt.Errorf("%s already exists (pass --force to overwrite", p)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	weightMap := map[string]string{}
	var total int64
	for k, group := range groups {
		var groupSpecs []TensorSpec
		for _, i := range group {
			groupSpecs = append(groupSpecs, specs[i])
			weightMap[specs[i].Name] = names[k]
			total += specBytes(specs[i], dtype)
		}
		shardSource := func(j int) ([]byte, error) { return source(group[j]) }
		err := atomicfile.WriteFile(filepath.Join(dir, names[k]), true, func(out io.Writer) error {
			return writeSafetensors(out, meta, groupSpecs, dtype, shardSource)
		})
		if err != nil {
			return err
		}
	}
	config, err := json.MarshalIndent(w.Config, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFileName), true, func(out io.Writer) error {
		_, err := out.Write(append(config, '\n'))
		return err
	}); err != nil {
		return err
	}
	index, err := json.MarshalIndent(shardIndex{
		Metadata:  map[string]json.RawMessage{"total_size": json.RawMessage(fmt.Sprint(total))},
		WeightMap: weightMap,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, IndexFileName), true, func(out io.Writer) error {
		_, err := out.Write(append(index, '\n'))
		return err
	}); err != nil {
		return err
	}
	return removeStaleShards(dir, names)
}

// shardNameFormat is the Hugging Face shard name for shard K of N.
const shardNameFormat = "model-%05d-of-%05d.safetensors"

// shardPattern matches Hugging Face shard names.
var shardPattern = regexp.MustCompile(`^model-[0-9]{5}-of-[0-9]{5}\.safetensors$`)

// removeStaleShards deletes shard files of an earlier save that the index
// just written does not name.
func removeStaleShards(dir string, keep []string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	for _, e := range entries {
		if shardPattern.MatchString(e.Name()) && !kept[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// packShards groups spec indices, in order, into shards of at most max bytes.
func packShards(specs []TensorSpec, dtype DType, max int64) [][]int {
	var groups [][]int
	var size int64
	for i, s := range specs {
		n := specBytes(s, dtype)
		if len(groups) == 0 || (size+n > max && size > 0) {
			groups = append(groups, nil)
			size = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], i)
		size += n
	}
	return groups
}

// fileMetadata is the __metadata__ every written file carries.
func fileMetadata(c *Config) (map[string]string, error) {
	config, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return map[string]string{"format": FormatV1, "config": string(config)}, nil
}

// saveSource validates w (config, every tensor present with its shape and
// consistent data) and returns the specs to store and their encoder.
func saveSource(w *Weights, dtype DType) ([]TensorSpec, tensorBytes, error) {
	if dtype.Size() == 0 {
		return nil, nil, fmt.Errorf("unknown dtype %q (want F32, F16 or BF16)", dtype)
	}
	if w == nil || w.Config == nil {
		return nil, nil, errors.New("weights have no config")
	}
	if err := w.Config.Validate(); err != nil {
		return nil, nil, err
	}
	byName := map[string]*Tensor{}
	for _, t := range w.tensors() {
		if other, dup := byName[t.Name]; dup && other != t {
			return nil, nil, fmt.Errorf("two different tensors are named %q", t.Name)
		}
		byName[t.Name] = t
	}
	if _, err := Bind(w.Config, func(name string) (*Tensor, bool) {
		t, ok := byName[name]
		return t, ok
	}); err != nil {
		return nil, nil, err
	}
	specs := TensorSpecs(w.Config)
	source := func(i int) ([]byte, error) {
		t := byName[specs[i].Name]
		if t.DType.Size() == 0 {
			return nil, fmt.Errorf("tensor %q has unknown dtype %q", t.Name, t.DType)
		}
		if len(t.Data) != t.Numel()*t.DType.Size() {
			return nil, fmt.Errorf("tensor %q holds %d bytes, its shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, t.Numel()*t.DType.Size())
		}
		if t.DType == dtype {
			return finiteBytes(t.Name, t.Data, dtype)
		}
		return finiteBytes(t.Name, encodeFloat32s(Float32s(t), dtype), dtype)
	}
	return specs, source, nil
}

// finiteBytes refuses to store a NaN or Inf (which Load would reject), e.g. a
// value that overflowed the F16 range in conversion.
func finiteBytes(name string, raw []byte, dtype DType) ([]byte, error) {
	if idx, kind := nonFinite(raw, dtype); idx >= 0 {
		return nil, fmt.Errorf("tensor %q element %d is %s in %s (out of range or not a number); refusing to save it", name, idx, kind, dtype)
	}
	return raw, nil
}

// tensors lists every tensor of w (the head once when tied).
func (w *Weights) tensors() []*Tensor {
	all := []*Tensor{w.VocabEmbed, w.SigmaW1, w.SigmaB1, w.SigmaW2, w.SigmaB2}
	for _, b := range w.Blocks {
		all = append(all, b.Norm1, b.Norm2, b.AdaW, b.AdaB, b.FC1W, b.FC1B, b.FC2W, b.FC2B)
		for _, m := range b.Mamba {
			if m != nil {
				all = append(all, m.InProj, m.ConvW, m.ConvB, m.DtBias, m.ALog, m.D, m.Norm, m.OutProj)
			}
		}
		if b.Attention != nil {
			all = append(all, b.Attention.QKV, b.Attention.OutProj)
		}
	}
	all = append(all, w.FinalNorm, w.FinalAdaW, w.FinalAdaB, w.Head, w.HeadBias)
	present := all[:0]
	for _, t := range all {
		if t != nil {
			present = append(present, t)
		}
	}
	return present
}

// writeSafetensors streams a safetensors file: header, then each spec's bytes.
func writeSafetensors(out io.Writer, metadata map[string]string, specs []TensorSpec, dtype DType, source tensorBytes) error {
	header, err := headerFor(metadata, specs, dtype)
	if err != nil {
		return err
	}
	var length [8]byte
	for i := range length {
		length[i] = byte(uint64(len(header)) >> (8 * i))
	}
	if _, err := out.Write(length[:]); err != nil {
		return err
	}
	if _, err := out.Write(header); err != nil {
		return err
	}
	for i, s := range specs {
		data, err := source(i)
		if err != nil {
			return err
		}
		if int64(len(data)) != specBytes(s, dtype) {
			return fmt.Errorf("tensor %q: produced %d bytes, want %d", s.Name, len(data), specBytes(s, dtype))
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
	}
	return nil
}
