package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The app cap defaults to 50, is set per file or environment, and is
// refused out of 1..10000 with its key named.
func TestAppsCap(t *testing.T) {
	dev, err := Parse("d.toml", devFile(""), noEnv)
	if err != nil || dev.Apps.MaxPerTenant != 50 {
		t.Fatalf("default cap %d, %v", dev.Apps.MaxPerTenant, err)
	}
	for _, name := range []string{"dev", "test", "pro"} {
		path := filepath.Join(shippedDir, "config_"+name+".toml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(path, data, envOf(map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret}))
		if err != nil || cfg.Apps.MaxPerTenant != 50 {
			t.Fatalf("config_%s.toml: cap %d, %v", name, cfg.Apps.MaxPerTenant, err)
		}
	}
	cfg, err := Parse("d.toml", devFile("[apps]\nmax_per_tenant = 7\n"), envOf(map[string]string{"MGV_APPS_MAX_PER_TENANT": "3"}))
	if err != nil || cfg.Apps.MaxPerTenant != 3 {
		t.Fatalf("env over file: cap %d, %v", cfg.Apps.MaxPerTenant, err)
	}
	for _, v := range []string{"0", "-1", "10001"} {
		_, err := Parse("d.toml", devFile("[apps]\nmax_per_tenant = "+v+"\n"), noEnv)
		if err == nil || !strings.Contains(err.Error(), "apps.max_per_tenant: must be 1..10000") {
			t.Errorf("max_per_tenant = %s: %v", v, err)
		}
	}
}
