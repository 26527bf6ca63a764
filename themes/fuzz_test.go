package themes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig reads arbitrary bytes as the user's config file: it must
// never panic, every rejection is one line, and an accepted theme exists.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`{"theme": "light"}`))
	f.Add([]byte(`{"theme": "nope"}`))
	f.Add([]byte(`{"colour": 1}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(path)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		if c.Theme != "" {
			if _, err := Get(c.Theme); err != nil {
				t.Fatalf("accepted unknown theme %q", c.Theme)
			}
		}
	})
}
