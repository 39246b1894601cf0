package config

import (
	"strings"
	"testing"
)

// The key sealing the audit chains' ends: audit.chain_key when set, else
// one derived from the JWT secret under its own label; production takes
// the key only from the environment, and refuses a weak one.
func TestAuditChainKey(t *testing.T) {
	pro, env := proConfig, proEnv
	cfg, err := Parse("p.toml", []byte(pro), env(map[string]string{"MGV_AUDIT_CHAIN_KEY": strings.ToUpper(strongSecret)}))
	if err != nil {
		t.Fatalf("a safe pro config is refused: %v", err)
	}
	if cfg.AuditChainKey() != strings.ToUpper(strongSecret) {
		t.Fatalf("pro: the chain key is %q", cfg.AuditChainKey())
	}
	derived, err := Parse("p.toml", []byte(pro), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if k := derived.AuditChainKey(); k == "" || k == derived.Auth.JWTSecret || k == derived.WebhookKey() {
		t.Fatalf("a derived chain key %q must differ from the JWT secret and the webhook key", k)
	}
	for _, tc := range []struct {
		name, toml string
		env        map[string]string
		want       string
	}{
		{"key in the file", pro + "[audit]\nchain_key = \"" + strongSecret + "\"\n", nil, "audit.chain_key: is written in the config file"},
		{"short key", pro, map[string]string{"MGV_AUDIT_CHAIN_KEY": "short"}, "audit.chain_key: must be at least 32 bytes"},
		{"repetitive key", pro, map[string]string{"MGV_AUDIT_CHAIN_KEY": strings.Repeat("ab", 20)}, "audit.chain_key: has only 2 distinct characters"},
	} {
		_, err := Parse("p.toml", []byte(tc.toml), env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Outside pro the file may hold it.
	dev, err := Parse("d.toml", devFile("[audit]\nchain_key = \"dev-chain-key\"\n"), noEnv)
	if err != nil || dev.AuditChainKey() != "dev-chain-key" {
		t.Fatalf("dev: %v %q", err, dev.AuditChainKey())
	}
}

// The sign-in throttle's key is derived from the JWT secret under its own
// label: every instance sharing the secret has it, and it is none of the
// other keys taken from the secret.
func TestSigninThrottleKey(t *testing.T) {
	cfg, err := Parse("p.toml", []byte(proConfig), proEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("p.toml", []byte(proConfig), proEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.SigninThrottleKey()
	if k == "" || k == cfg.Auth.JWTSecret || k == cfg.WebhookKey() || k == cfg.AuditChainKey() || !strings.Contains(k, cfg.Auth.JWTSecret) {
		t.Fatalf("the throttle key %q must be derived from the JWT secret and differ from it and the other keys", k)
	}
	if again.SigninThrottleKey() != k {
		t.Fatal("two instances of one configuration derive different throttle keys")
	}
}
