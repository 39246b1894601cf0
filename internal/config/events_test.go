package config

import (
	"strings"
	"testing"
	"time"
)

// The event stream caps and send timeout have defaults, and a bad value
// is refused naming its key.
func TestEventStreamSettings(t *testing.T) {
	cfg, err := Parse("d.toml", devFile(""), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Events; e.MaxStreamsPerApp != 4 || e.MaxStreamsPerTenant != 32 || e.MaxStreams != 256 || e.SendTimeout.Duration != 30*time.Second {
		t.Fatalf("defaults: per app %d, per tenant %d, in all %d, send timeout %s", e.MaxStreamsPerApp, e.MaxStreamsPerTenant, e.MaxStreams, e.SendTimeout.Duration)
	}
	// A tenant's cap above the total is allowed: the total binds.
	if _, err := Parse("d.toml", devFile("[events]\nmax_streams = 8\n"), noEnv); err != nil {
		t.Fatalf("a total below the default tenant cap is refused: %v", err)
	}
	for _, tc := range []struct{ name, toml, want string }{
		{"no tenant streams", "[events]\nmax_streams_per_tenant = 0\n", "events.max_streams: events.max_streams, events.max_streams_per_tenant and events.max_streams_per_app must be greater than 0"},
		{"app over the total", "[events]\nmax_streams = 2\nmax_streams_per_app = 3\n", "events.max_streams_per_app: must be at most events.max_streams (2; got 3)"},
		{"no send timeout", "[events]\nsend_timeout = \"0s\"\n", "events.send_timeout: must be between 1s and 1h (got 0s)"},
		{"send timeout of a day", "[events]\nsend_timeout = \"24h\"\n", "events.send_timeout: must be between 1s and 1h"},
	} {
		_, err := Parse("d.toml", devFile(tc.toml), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// An erasure waits a week for its confirmation by default; a wait under a
// minute is refused naming the key.
func TestPrivacyConfirmWithin(t *testing.T) {
	cfg, err := Parse("d.toml", devFile(""), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Privacy.ConfirmWithin.Duration; got != 7*24*time.Hour {
		t.Fatalf("privacy.confirm_within defaults to %s", got)
	}
	_, err = Parse("d.toml", devFile("[privacy]\nconfirm_within = \"30s\"\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "privacy.confirm_within: must be at least 1m (got 30s)") {
		t.Fatalf("a confirmation window of 30s: %v", err)
	}
}
