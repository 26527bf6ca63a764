package models

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseConfig feeds arbitrary JSON to the config parser: it must never
// panic, every rejection is one line, and an accepted config yields tensor
// specs with positive shapes (so a loader can size every tensor).
func FuzzParseConfig(f *testing.F) {
	for _, bb := range []string{BackboneMamba, BackboneHybrid, BackboneTransformer} {
		cfg, err := Preset("tiny", bb)
		if err != nil {
			f.Fatal(err)
		}
		data, _ := json.Marshal(cfg)
		f.Add(data)
	}
	f.Add([]byte(`{"format":"diffuapriel/v1","backbone":"hybrid","layers":["mamba","attention"],"n_layers":2}`))
	f.Add([]byte(`{"d_model":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		if ParamCount(cfg) <= 0 {
			t.Fatalf("accepted config with %d parameters", ParamCount(cfg))
		}
		for _, s := range TensorSpecs(cfg) {
			for _, d := range s.Shape {
				if d <= 0 {
					t.Fatalf("tensor %s has shape %v", s.Name, s.Shape)
				}
			}
		}
	})
}
