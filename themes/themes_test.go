package themes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltinThemesAreComplete(t *testing.T) {
	want := []string{"dark", "light", "high-contrast", "colorblind"}
	if got := strings.Join(Names(), ","); got != strings.Join(want, ",") {
		t.Fatalf("Names() = %s, want %s", got, strings.Join(want, ","))
	}
	for _, name := range Names() {
		th, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		for label, c := range map[string]string{"Text": string(th.Text), "Dim": string(th.Dim), "Mask": string(th.Mask),
			"FreshBG": string(th.FreshBG), "CursorBG": string(th.CursorBG), "Accent": string(th.Accent), "Error": string(th.Error)} {
			if len(c) != 7 || c[0] != '#' {
				t.Errorf("theme %s: %s = %q, want #RRGGBB", name, label, c)
			}
		}
		if len(th.Heat) < 3 {
			t.Errorf("theme %s: heat scale has %d colours", name, len(th.Heat))
		}
	}
}

func TestGetAliasesAndErrors(t *testing.T) {
	th, err := Get("Colour-Blind")
	if err != nil || th.Name != "colorblind" {
		t.Fatalf("Get(Colour-Blind) = %q, %v", th.Name, err)
	}
	if _, err := Get("neon"); err == nil || !strings.Contains(err.Error(), `"neon"`) {
		t.Fatalf("Get(neon) error = %v, want one naming the theme", err)
	}
	if Next("colorblind").Name != "dark" || Next("dark").Name != "light" {
		t.Fatal("Next does not cycle in Names order")
	}
}

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if th, err := Resolve("", path); err != nil || th.Name != Default {
		t.Fatalf("missing config: %q, %v", th.Name, err)
	}
	if err := os.WriteFile(path, []byte(`{"theme": "light"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if th, err := Resolve("", path); err != nil || th.Name != "light" {
		t.Fatalf("config theme: %q, %v", th.Name, err)
	}
	if th, err := Resolve("high-contrast", path); err != nil || th.Name != "high-contrast" {
		t.Fatalf("flag over config: %q, %v", th.Name, err)
	}
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{`{"theem": "light"}`, "theem"},
		{`{"theme": "neon"}`, "neon"},
		{`{"theme": `, "config"},
	} {
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Resolve("", path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("config %s: error %v, want one line naming %q", tc.body, err, tc.want)
		}
	}
}
