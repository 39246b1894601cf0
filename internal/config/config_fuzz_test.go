package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary TOML and one arbitrary override to the loader:
// it must either accept the file or refuse it with one line, never panic.
func FuzzParse(f *testing.F) {
	for _, env := range []string{"dev", "test", "pro"} {
		if data, err := os.ReadFile(filepath.Join(shippedDir, "config_"+env+".toml")); err == nil {
			f.Add(string(data), "MGV_HTTP_ADDR", ":1")
		}
	}
	f.Add("[http]\naddr = 1\n", "MGV_PROCESS_DRAIN_TIMEOUT", "3x")
	f.Add("[ratelimit.tiers.x]\nrps = -1\n", "MGV_RATELIMIT_TIERS_X_RPS", "9")
	f.Add("[timeouts]\n\"/a\" = \"1s\"\n", "MGV_SEARCH_URLS", ",,,")
	f.Fuzz(func(t *testing.T, data, key, value string) {
		cfg, err := Parse("fuzz.toml", []byte(data), envOf(map[string]string{key: value}))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans several lines: %q", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted a config that does not validate: %v", err)
		}
	})
}
