package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tracker cap defaults to 200 in code and in every shipped file, the
// environment overrides the file, and a value out of 1..10000 is refused
// with its key named.
func TestTrackersCap(t *testing.T) {
	caps := map[string]int{}
	if cfg, err := Parse("d.toml", devFile(""), noEnv); err == nil {
		caps["built-in"] = cfg.Trackers.MaxPerTenant
	} else {
		t.Fatal(err)
	}
	for _, env := range []string{"dev", "test", "pro"} {
		path := filepath.Join(shippedDir, "config_"+env+".toml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(path, data, envOf(map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret}))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		caps[env] = cfg.Trackers.MaxPerTenant
	}
	for where, n := range caps {
		if n != 200 {
			t.Errorf("%s: trackers.max_per_tenant %d, want 200", where, n)
		}
	}
	cfg, err := Parse("d.toml", devFile("[trackers]\nmax_per_tenant = 9\n"), envOf(map[string]string{"MGV_TRACKERS_MAX_PER_TENANT": "4"}))
	if err != nil || cfg.Trackers.MaxPerTenant != 4 {
		t.Fatalf("environment over the file: %d, %v", cfg.Trackers.MaxPerTenant, err)
	}
	for _, v := range []string{"0", "-3", "10001"} {
		if _, err := Parse("d.toml", devFile("[trackers]\nmax_per_tenant = "+v+"\n"), noEnv); err == nil ||
			!strings.Contains(err.Error(), "trackers.max_per_tenant: must be 1..10000") {
			t.Errorf("max_per_tenant = %s: %v", v, err)
		}
	}
}
