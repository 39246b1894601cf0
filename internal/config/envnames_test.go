package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

// A misspelt override stops the load with the variable's name and the
// setting it was probably meant to be, instead of leaving the default.
func TestUnknownEnvIsRefusedWithASuggestion(t *testing.T) {
	_, err := Parse("x.toml", devFile(""), envOf(map[string]string{"MGV_RATE_LIMIT_ANON_RPS": "5"}))
	want := "environment: MGV_RATE_LIMIT_ANON_RPS is not a setting (did you mean MGV_RATELIMIT_ANON_RPS?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	for typo, meant := range map[string]string{
		"MGV_HTTP_ADR":                        "MGV_HTTP_ADDR",
		"MGV_DATABASE_DNS":                    "MGV_DATABASE_DSN",
		"mgv_http_addr":                       "MGV_HTTP_ADDR",
		"MGV_GRPCMAXRECVMSGBYTES":             "MGV_GRPC_MAX_RECV_MSG_BYTES",
		"MGV_SEARCH_URL":                      "MGV_SEARCH_URLS",
		"MGV_RATELIMIT_TIERS_STANDRAD_RPS":    "MGV_RATELIMIT_TIERS_STANDARD_RPS",
		"MGV_RATELIMIT_TIERS_STANDARD_BRUST":  "MGV_RATELIMIT_TIERS_STANDARD_BURST",
		"MGV_CONIFG":                          "MGV_CONFIG",
		"MGV_AUTH_JWT_SECRETS":                "MGV_AUTH_JWT_SECRET",
		"MGV_CONSUL_DEREGISTER_CRITICAL_AFTR": "",
		// The section left out: the one setting that ends so, or none.
		"MGV_PID_FILE":   "MGV_PROCESS_PID_FILE",
		"MGV_JWT_SECRET": "MGV_AUTH_JWT_SECRET",
		"MGV_ADDR":       "",
	} {
		_, err := Parse("x.toml", devFile(""), envOf(map[string]string{typo: "1"}))
		if err == nil || !strings.Contains(err.Error(), typo+" is not a setting") {
			t.Errorf("%s: err = %v", typo, err)
			continue
		}
		hint := strings.Contains(err.Error(), "did you mean")
		if meant == "" && hint {
			t.Errorf("%s: suggests a setting too far from it: %v", typo, err)
		}
		if meant != "" && !strings.Contains(err.Error(), "(did you mean "+meant+"?)") {
			t.Errorf("%s: err = %v, want the suggestion %s", typo, err, meant)
		}
	}
}

// Every unknown variable is named in one error, in sorted order, so one
// restart is enough to see them all; the known ones beside them are no
// excuse.
func TestSeveralUnknownEnvInOneError(t *testing.T) {
	_, err := Parse("x.toml", devFile(""), envOf(map[string]string{
		"MGV_ZZZ":                    "1",
		"MGV_LOG_LEVL":               "debug",
		"MGV_HTTP_ADDR":              ":1",
		"MGV_BENCH_ROUND":            "1",
		"MGV_TEST_MYSQL_DSN":         "root@tcp(127.0.0.1:3306)/x",
		"MGV_DATABASE_DRIVER":        "sqlite",
		"MGV_":                       "",
		"PATH":                       "/usr/bin",
		"MGVX_HTTP_ADDR":             ":1",
		"XMGV_HTTP_ADDR":             ":1",
		"MGV_GRPC_MAX_RECV_MSG_BYTE": "1",
	}))
	if err == nil {
		t.Fatal("Parse accepted unknown MGV_ variables")
	}
	want := "environment: " + strings.Join([]string{
		"MGV_ is not a setting",
		"MGV_BENCH_ROUND is not a setting",
		"MGV_GRPC_MAX_RECV_MSG_BYTE is not a setting (did you mean MGV_GRPC_MAX_RECV_MSG_BYTES?)",
		"MGV_LOG_LEVL is not a setting (did you mean MGV_LOG_LEVEL?)",
		"MGV_TEST_MYSQL_DSN is not a setting",
		"MGV_ZZZ is not a setting",
	}, "; ")
	if err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// Tier entries are settings for every tier the file defines, whatever its
// name; a tier the file does not define is refused with where to define
// it, not silently dropped.
func TestTierEnvFollowsTheFilesTiers(t *testing.T) {
	file := "[app]\nenv = \"dev\"\n[ratelimit]\nenabled = true\n[ratelimit.tiers.gold_plus]\nrps = 1\nburst = 1\n[ratelimit.tiers.Partner2]\nrps = 1\nburst = 1\n"
	good := map[string]string{
		"MGV_RATELIMIT_TIERS_GOLD_PLUS_RPS":   "40",
		"MGV_RATELIMIT_TIERS_GOLD_PLUS_BURST": "20",
		"MGV_RATELIMIT_TIERS_PARTNER2_RPS":    "9",
		"MGV_RATELIMIT_TIERS_STANDARD_BURST":  "7",
		"MGV_RATELIMIT_DEFAULT_TIER":          "gold_plus",
		"MGV_TIMEOUTS_/MGV.OPEN.V1.X/Y":       "1s",
		"MGV_TEST_WEBHOOK_HOSTS":              "a.test=127.0.0.1",
		"MGV_CONFIG":                          "x.toml",
	}
	bad := maps.Clone(good)
	bad["MGV_RATELIMIT_TIERS_GOLD_PLUS_RPS_IS"] = ""
	_, err := Parse("x.toml", []byte(file), envOf(bad))
	if err == nil || err.Error() != "environment: MGV_RATELIMIT_TIERS_GOLD_PLUS_RPS_IS is not a setting (did you mean MGV_RATELIMIT_TIERS_GOLD_PLUS_RPS?); MGV_TIMEOUTS_/MGV.OPEN.V1.X/Y is not a setting (the config file has no such entry under [timeouts]; the environment overrides only the entries the file has)" {
		t.Fatalf("err = %v", err)
	}

	cfg, err := Parse("x.toml", []byte(file+"[timeouts]\n\"/mgv.open.v1.X/Y\" = \"3s\"\n"), envOf(good))
	if err != nil {
		t.Fatal(err)
	}
	tiers := cfg.RateLimit.Tiers
	if tiers["gold_plus"] != (Tier{RPS: 40, Burst: 20, HeavyCalls: cfg.Database.MaxOpenConns / 4}) || tiers["Partner2"].RPS != 9 || tiers["standard"].Burst != 7 || cfg.RateLimit.DefaultTier != "gold_plus" {
		t.Errorf("tier overrides not applied: %+v, default %q", tiers, cfg.RateLimit.DefaultTier)
	}
	if d := cfg.Timeouts["/mgv.open.v1.X/Y"].Duration; d != time.Second {
		t.Errorf("timeouts entry = %s, want 1s", d)
	}

	_, err = Parse("x.toml", []byte(file), envOf(map[string]string{"MGV_RATELIMIT_TIERS_PLATINUM_RPS": "5"}))
	if err == nil || err.Error() != "environment: MGV_RATELIMIT_TIERS_PLATINUM_RPS is not a setting (the config file has no such entry under [ratelimit.tiers]; the environment overrides only the entries the file has)" {
		t.Fatalf("a tier the file lacks: %v", err)
	}
}

// A name the binary reads that is not a setting is accepted, and the
// test-only one is refused in pro, however pro was chosen.
func TestNonSettingsTheBinaryReads(t *testing.T) {
	for _, name := range notSettings {
		if _, err := Parse("x.toml", devFile(""), envOf(map[string]string{name: "x=127.0.0.1"})); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	pro := map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret, "MGV_APP_ENV": "pro", "MGV_ADMIN_ADDR": "127.0.0.1:2024", EnvWebhookHosts: "a.test=127.0.0.1"}
	if _, err := Parse("x.toml", devFile(""), envOf(pro)); err == nil || err.Error() != "environment: MGV_TEST_WEBHOOK_HOSTS is read only outside pro" {
		t.Fatalf("pro with %s: %v", EnvWebhookHosts, err)
	}
	delete(pro, EnvWebhookHosts)
	if _, err := Parse("x.toml", devFile(""), envOf(pro)); err != nil {
		t.Fatalf("pro without it: %v", err)
	}
}

// The refusal comes before any value is applied or checked, and the known
// variables beside the unknown ones are applied once they are gone.
func TestKnownEnvStillApplied(t *testing.T) {
	env := map[string]string{"MGV_HTTP_ADDR": "127.0.0.1:9", "MGV_GRPC_REFLECTION": "true", "MGV_LOG_LEVEL": "warn", "MGV_GRPC_ADRR": "nope"}
	if _, err := Parse("x.toml", devFile(""), envOf(env)); err == nil || !strings.Contains(err.Error(), "MGV_GRPC_ADRR is not a setting (did you mean MGV_GRPC_ADDR?)") {
		t.Fatalf("err = %v", err)
	}
	delete(env, "MGV_GRPC_ADRR")
	cfg, err := Parse("x.toml", devFile(""), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:9" || !cfg.GRPC.Reflection || cfg.Log.Level != "warn" {
		t.Fatalf("overrides not applied: http.addr %q, grpc.reflection %v, log.level %q", cfg.HTTP.Addr, cfg.GRPC.Reflection, cfg.Log.Level)
	}
}

func TestEnvironParsesEntries(t *testing.T) {
	env := Environ([]string{"MGV_HTTP_ADDR=:1", "MGV_DATABASE_DSN=a=b", "EMPTY=", "NOEQUALS"})
	if len(env) != 3 || env["MGV_HTTP_ADDR"] != ":1" || env["MGV_DATABASE_DSN"] != "a=b" || env["EMPTY"] != "" {
		t.Fatalf("Environ = %v", env)
	}
}
