package ui

import (
	"strings"
	"testing"

	"diffuapriel/engine"
)

func TestConfigureChecksOptions(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	bad := engine.DefaultOptions()
	bad.Sampler = "nucleus"
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{ModelPaths: []string{"/no/such/model"}}, "--model /no/such/model: no such file"},
		{Options{ModelPaths: []string{".", ".", ".", "."}}, "at most 3"},
		{Options{Backend: "tpu"}, `"tpu"`},
		{Options{Length: -1}, "length"},
		{Options{Theme: "neon"}, `"neon"`},
		{Options{Sampling: bad}, `"nucleus"`},
	} {
		_, err := configure(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want one line containing %q", tc.o, err, tc.want)
		}
	}
}

func TestConfigureModes(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	single, err := configure(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if single.compare || len(single.models) == 0 || single.opts.TopN != 5 || single.theme.Name != "dark" {
		t.Fatalf("defaults: compare %v, %d models, top-n %d, theme %q", single.compare, len(single.models), single.opts.TopN, single.theme.Name)
	}
	cmp, err := configure(Options{Compare: true, Theme: "light"})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.compare || len(cmp.models) < 2 || len(cmp.models) > 3 || cmp.theme.Name != "light" {
		t.Fatalf("--compare: compare %v with %d models, theme %q", cmp.compare, len(cmp.models), cmp.theme.Name)
	}
	dir := t.TempDir()
	paths, err := configure(Options{ModelPaths: []string{dir, dir}})
	if err != nil {
		t.Fatal(err)
	}
	if !paths.compare || len(paths.models) != 2 || paths.models[0].name != dir {
		t.Fatalf("two --model paths: compare %v with %d models", paths.compare, len(paths.models))
	}
	one, err := configure(Options{ModelPaths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if one.compare || one.models[0].name != dir || len(one.models) != 1+len(single.models) {
		t.Fatal("one --model path should open it first, with the built-in models after it in the picker")
	}
}
