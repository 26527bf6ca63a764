package demo

import (
	"testing"

	"diffuapriel/models"
)

func TestCatalogDemoModelsLoad(t *testing.T) {
	seen := map[string]bool{}
	var params []int64
	for _, e := range Catalog() {
		ck, err := e.Open()
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		if ck.Config.Backbone != e.Backbone {
			t.Fatalf("%s holds a %s model", e.Name, ck.Config.Backbone)
		}
		seen[e.Backbone] = true
		params = append(params, models.ParamCount(ck.Config))
		ck.Close()
	}
	if len(seen) != 3 {
		t.Fatalf("catalog covers %v, want all three backbones", seen)
	}
	// The demos are parameter-matched within 10%.
	lo, hi := params[0], params[0]
	for _, p := range params {
		lo, hi = min(lo, p), max(hi, p)
	}
	if float64(hi-lo)/float64(lo) > 0.10 {
		t.Fatalf("demo parameter counts %v differ by more than 10%%", params)
	}
}
