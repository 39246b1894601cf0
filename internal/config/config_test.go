package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestShippedConfigsAreValid(t *testing.T) {
	for _, env := range []string{"dev", "test", "pro"} {
		t.Run(env, func(t *testing.T) {
			path := filepath.Join("..", "..", "config", "config_"+env+".toml")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lookup := noEnv
			if env == "pro" {
				lookup = envOf(map[string]string{"MGV_AUTH_JWT_SECRET": strings.Repeat("s", 32)})
			}
			cfg, err := Parse(path, data, lookup)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.App.Env != env {
				t.Errorf("app.env = %q, want %q", cfg.App.Env, env)
			}
		})
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, toml string
		env        map[string]string
		want       string
	}{
		{"unknown key", "[http]\nadress = \":1\"\n", nil, `unknown key "http.adress"`},
		{"unknown section", "[htp]\naddr = \":1\"\n", nil, `unknown key "htp"`},
		{"bad duration", "[process]\ndrain_timeout = \"3x\"\n", nil, `invalid duration "3x"`},
		{"negative duration", "[process]\ndrain_timeout = \"-1s\"\n", nil, "process.drain_timeout: must be a positive duration"},
		{"gc percent", "[process]\ngc_percent = 5\n", nil, "process.gc_percent: must be 25..1000, or 0 for the runtime's default (got 5)"},
		{"bad enum", "[grpc]\nclient_auth = \"maybe\"\n", nil, `grpc.client_auth: must be one of none, request, require (got "maybe")`},
		{"bad addr", "[http]\naddr = \"2023\"\n", nil, `http.addr: must be host:port or :port (got "2023")`},
		{"wrong type", "[http]\naddr = 2023\n", nil, "line 2"},
		{"syntax", "[http\n", nil, "x.toml: line 2: expected"},
		{"env bad int", "", map[string]string{"MGV_GRPC_MAX_RECV_MSG_BYTES": "lots"}, `environment MGV_GRPC_MAX_RECV_MSG_BYTES (grpc.max_recv_msg_bytes): invalid integer "lots"`},
		{"env bad bool", "", map[string]string{"MGV_GRPC_REFLECTION": "yes please"}, "MGV_GRPC_REFLECTION"},
		{"env bad value", "", map[string]string{"MGV_DATABASE_DRIVER": "oracle"}, "database.driver: must be one of sqlite, mysql"},
		{"pro generates certs", "[app]\nenv = \"pro\"\n[ssl]\ngenerate = true\n[auth]\njwt_secret = \"" + strings.Repeat("x", 32) + "\"\n", nil, "ssl.generate: must be false in pro"},
		{"pro short secret", "[app]\nenv = \"pro\"\n", nil, "auth.jwt_secret: must be at least 32 characters"},
		{"pprof not loopback", "[admin]\naddr = \"0.0.0.0:2024\"\npprof = true\n", nil, "admin.addr: must be a loopback address"},
		{"tier missing", "[ratelimit]\nenabled = true\ndefault_tier = \"gold\"\n", nil, `ratelimit.default_tier: names no tier under [ratelimit.tiers] (got "gold")`},
		{"tier nobody may wait", "[ratelimit]\nenabled = true\n[ratelimit.tiers.standard]\nrps = 10\nburst = 0\n", nil, "ratelimit.tiers.standard.burst: must be greater than 0 (got 0)"},
		{"anon nobody may wait", "[ratelimit]\nenabled = true\nanon_burst = 0\n", nil, "ratelimit.anon_burst: must be greater than 0 (got 0)"},
		{"breaker no window", "[breaker]\nenabled = true\nwindow = \"0s\"\n", nil, "breaker.window: must be a positive duration"},
		{"breaker no samples", "[breaker]\nenabled = true\nmin_samples = 0\n", nil, "breaker.min_samples: must be greater than 0 (got 0)"},
		{"tracing no endpoint", "[tracing]\nenabled = true\n", nil, "tracing.agent_addr: or tracing.collector_url is required"},
		{"tracing bad collector", "[tracing]\nenabled = true\ncollector_url = \"127.0.0.1:14268\"\n", nil, "tracing.collector_url: must be an http(s) URL"},
		{"tracing bad agent", "[tracing]\nenabled = true\nagent_addr = \"6831\"\n", nil, "tracing.agent_addr: must be host:port"},
		{"tracing const param", "[tracing]\nenabled = true\nagent_addr = \":6831\"\nsampler_param = 0.5\n", nil, "tracing.sampler_param: must be 0 or 1 for the const sampler"},
		{"consul advertise with port", "[consul]\nenabled = true\nadvertise_addr = \"10.0.0.5:2023\"\n", nil, "consul.advertise_addr: must be a host or IP without a port"},
		{"indexer no workers", "[search]\nindexer_workers = 0\n", nil, "search.indexer_workers: must be 1..16 (got 0)"},
		{"catch-up refresh negative", "[search]\ncatchup_refresh = \"-1s\"\n", nil, "search.catchup_refresh: must not be negative"},
		{"tracing no service", "[tracing]\nenabled = true\nagent_addr = \":6831\"\nservice_name = \"\"\n", nil, "tracing.service_name: is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.toml), envOf(tc.env))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans several lines: %q", err)
			}
		})
	}
}

func TestEnvOverridesEveryKind(t *testing.T) {
	cfg, err := Parse("x.toml", []byte("[http]\naddr = \":1\"\n"), envOf(map[string]string{
		"MGV_HTTP_ADDR":                    "127.0.0.1:9000",
		"MGV_PROCESS_DRAIN_TIMEOUT":        "3s",
		"MGV_GRPC_REFLECTION":              "true",
		"MGV_GRPC_MAX_RECV_MSG_BYTES":      "1024",
		"MGV_TRACING_SAMPLER_PARAM":        "0.25",
		"MGV_SEARCH_URLS":                  "http://a:9200, http://b:9200",
		"MGV_RATELIMIT_TIERS_STANDARD_RPS": "7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:9000" {
		t.Errorf("http.addr = %q", cfg.HTTP.Addr)
	}
	if cfg.Process.DrainTimeout.Duration != 3*time.Second {
		t.Errorf("process.drain_timeout = %s", cfg.Process.DrainTimeout)
	}
	if !cfg.GRPC.Reflection || cfg.GRPC.MaxRecvMsgBytes != 1024 || cfg.Tracing.SamplerParam != 0.25 {
		t.Errorf("grpc/tracing overrides not applied: %+v %+v", cfg.GRPC, cfg.Tracing)
	}
	if got := strings.Join(cfg.Search.URLs, "|"); got != "http://a:9200|http://b:9200" {
		t.Errorf("search.urls = %q", got)
	}
	if cfg.RateLimit.Tiers["standard"].RPS != 7 {
		t.Errorf("ratelimit.tiers.standard.rps = %d", cfg.RateLimit.Tiers["standard"].RPS)
	}
}

func TestEnvKeysFollowTheRule(t *testing.T) {
	keys := strings.Join(EnvKeys(Default()), " ")
	for _, want := range []string{"MGV_HTTP_ADDR", "MGV_GRPC_CLIENT_AUTH", "MGV_PROCESS_PID_FILE", "MGV_CONSUL_DEREGISTER_CRITICAL_SERVICE_AFTER", "MGV_RATELIMIT_TIERS_STANDARD_BURST"} {
		if !strings.Contains(keys, want) {
			t.Errorf("EnvKeys lacks %s", want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml: not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestLocateOrder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("MGV_CONFIG", "")
	if got := Locate(""); got != filepath.Join("config", "config_dev.toml") {
		t.Errorf("no flag, no env, no symlink: %q", got)
	}
	if err := os.MkdirAll("config", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("config", "config_dev.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("config_dev.toml", filepath.Join("config", "config.toml")); err != nil {
		t.Fatal(err)
	}
	if got := Locate(""); got != filepath.Join("config", "config.toml") {
		t.Errorf("with config/config.toml: %q", got)
	}
	t.Setenv("MGV_CONFIG", "/etc/mgv.toml")
	if got := Locate(""); got != "/etc/mgv.toml" {
		t.Errorf("with MGV_CONFIG: %q", got)
	}
	if got := Locate("flag.toml"); got != "flag.toml" {
		t.Errorf("with flag: %q", got)
	}
}

func TestMetricsOnAdminInPro(t *testing.T) {
	c := Default()
	if c.MetricsOnAdmin() {
		t.Error("dev serves /metrics on the admin listener by default; want the public port")
	}
	c.App.Env = "pro"
	if !c.MetricsOnAdmin() {
		t.Error("pro must serve /metrics on the admin listener")
	}
	c.Admin.Addr = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "admin.addr: is required") {
		t.Errorf("pro without admin.addr: got %v", err)
	}
}
