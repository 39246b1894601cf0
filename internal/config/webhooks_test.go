package config

import (
	"strings"
	"testing"
)

// proConfig is a minimal pro configuration file; proEnv its environment,
// the JWT secret and m.
const proConfig = "[app]\nenv = \"pro\"\n[admin]\naddr = \"127.0.0.1:2024\"\n"

func proEnv(m map[string]string) Environment {
	all := map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret}
	for k, v := range m {
		all[k] = v
	}
	return envOf(all)
}

// Production refuses loopback receivers and a signing-secret key that is
// weak or written in the file; every environment refuses a lease shorter
// than three request timeouts.
func TestWebhookSettings(t *testing.T) {
	pro, env := proConfig, proEnv
	cfg, err := Parse("p.toml", []byte(pro), env(map[string]string{"MGV_WEBHOOKS_SECRET_KEY": strings.ToUpper(strongSecret)}))
	if err != nil {
		t.Fatalf("a safe pro config is refused: %v", err)
	}
	if !cfg.RequireHTTPS() || cfg.Webhooks.AllowLoopback || cfg.WebhookKey() != strings.ToUpper(strongSecret) {
		t.Fatalf("pro: https %v, loopback %v", cfg.RequireHTTPS(), cfg.Webhooks.AllowLoopback)
	}
	if cfg.Webhooks.MaxSubscriptionsPerApp != 20 {
		t.Fatalf("max_subscriptions_per_app defaults to %d, want 20", cfg.Webhooks.MaxSubscriptionsPerApp)
	}
	for _, tc := range []struct {
		name, toml string
		env        map[string]string
		want       string
	}{
		{"loopback", pro + "[webhooks]\nallow_loopback = true\n", nil, "webhooks.allow_loopback: must be false in pro"},
		{"loopback from env", pro, map[string]string{"MGV_WEBHOOKS_ALLOW_LOOPBACK": "true"}, "webhooks.allow_loopback: must be false in pro"},
		{"key in the file", pro + "[webhooks]\nsecret_key = \"" + strongSecret + "\"\n", nil, "webhooks.secret_key: is written in the config file"},
		{"short key", pro, map[string]string{"MGV_WEBHOOKS_SECRET_KEY": "short"}, "webhooks.secret_key: must be at least 32 bytes"},
		{"short lease", "[webhooks]\nrequest_timeout = \"10s\"\nlease = \"20s\"\n", nil, "webhooks.lease: must be at least three times"},
		{"batch below in_flight", "[webhooks]\nin_flight = 16\nbatch = 8\n", nil, "webhooks.batch: must be"},
		{"no retry window", "[webhooks]\nretry_window = \"0s\"\n", nil, "webhooks.retry_window: must be a positive duration"},
		{"no subscriptions", "[webhooks]\nmax_subscriptions_per_app = 0\n", nil, "webhooks.max_subscriptions_per_app: must be 1..10000"},
		{"no pending redeliveries", "[webhooks]\nmax_pending_redeliveries = 0\n", nil, "webhooks.max_pending_redeliveries: must be 1..100000"},
		{"retry_max past the retention", "[events]\nretention = \"2h\"\n[webhooks]\nretry_max = \"2h\"\n", nil,
			"webhooks.retry_max: must be less than events.retention (2h0m0s)"},
		{"retry_window past the retention", "[events]\nretention = \"24h\"\n[webhooks]\nretry_window = \"24h\"\n", nil,
			"webhooks.retry_window: must be less than events.retention (24h0m0s)"},
	} {
		data := []byte(tc.toml)
		if !strings.Contains(tc.toml, "[app]") {
			data = devFile(tc.toml)
		}
		_, err := Parse("p.toml", data, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	dev, err := Parse("d.toml", devFile(""), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if dev.RequireHTTPS() || dev.WebhookKey() == "" || dev.WebhookKey() == dev.Auth.JWTSecret {
		t.Fatalf("dev: https %v, key %q", dev.RequireHTTPS(), dev.WebhookKey())
	}
}
