package models

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzLoadBytes feeds arbitrary bytes to the loader. It must never panic,
// hang or allocate more than the input warrants; every rejection is one line
// naming the input; and whatever it accepts is fully usable: every tensor
// decodes to finite values, and re-encoding the model in its stored dtype
// reproduces the same tensors. Run it with -fuzzminimizetime 100x: the
// default minimisation of a several-KB input takes a minute per new input
// (docs/checkpoints.md).
func FuzzLoadBytes(f *testing.F) {
	for i, backbone := range allBackbones {
		for _, dtype := range allDTypes {
			f.Add(microBytes(f, backbone, dtype))
		}
		valid := microBytes(f, backbone, allDTypes[i])
		f.Add(valid[:len(valid)/2])
		f.Add(valid[:8+len(valid)/100])
		past := bytes.Clone(valid)
		binary.LittleEndian.PutUint64(past, uint64(len(valid)))
		f.Add(past)
	}
	valid := microBytes(f, BackboneMamba, BF16)
	f.Add(setElement(f, valid, "blocks.0.mixer.rev.D", 1, 0x7fc0, 2))
	f.Add(bytes.Replace(microBytes(f, BackboneMamba, F32), []byte(`"F32"`), []byte(`"F64"`), 1))
	f.Add(bytes.Replace(valid, []byte(`"BF16"`), []byte(`"F64" `), 1))
	f.Add(bytes.Replace(valid, []byte(FormatV1), []byte("diffuapriel/v9"), 1))
	f.Add([]byte{})
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))

	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := LoadBytes("fuzz-input", data)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "fuzz-input") {
				t.Fatalf("error is not one line naming the input: %q", msg)
			}
			return
		}
		defer ck.Close()
		w := ck.Weights
		dtypes := map[DType]bool{}
		for _, x := range w.tensors() {
			dtypes[x.DType] = true
			for i, v := range Float32s(x) {
				if v-v != 0 {
					t.Fatalf("accepted tensor %q element %d = %g", x.Name, i, v)
				}
			}
		}
		if len(dtypes) != 1 {
			return // mixed dtypes are legal; Save would convert them
		}
		var dtype DType
		for d := range dtypes {
			dtype = d
		}
		specs, source, err := saveSource(w, dtype)
		if err != nil {
			t.Fatalf("accepted model cannot be saved: %v", err)
		}
		meta, err := fileMetadata(ck.Config)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := writeSafetensors(&buf, meta, specs, dtype, source); err != nil {
			t.Fatalf("accepted model cannot be written: %v", err)
		}
		again, err := LoadBytes("re-encoded", buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded model does not load: %v", err)
		}
		sameWeights(t, w, again.Weights, 0)
	})
}
