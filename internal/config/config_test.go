package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var noEnv Environment

func envOf(m map[string]string) Environment { return m }

func TestShippedConfigsAreValid(t *testing.T) {
	for _, env := range []string{"dev", "test", "pro"} {
		t.Run(env, func(t *testing.T) {
			path := filepath.Join(shippedDir, "config_"+env+".toml")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lookup := noEnv
			if env == "pro" {
				lookup = envOf(map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret})
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
		{"env bad value", "", map[string]string{"MGV_DATABASE_DRIVER": "oracle"}, "environment MGV_DATABASE_DRIVER (database.driver): must be one of sqlite, mysql"},
		{"pro generates certs", "[app]\nenv = \"pro\"\n[ssl]\ngenerate = true\n[auth]\njwt_secret = \"" + strings.Repeat("x", 32) + "\"\n", nil, "ssl.generate: must be false in pro"},
		{"pro short secret", "[app]\nenv = \"pro\"\n", nil, "auth.jwt_secret: must be at least 32 bytes in pro (got 0)"},
		{"trusted proxy not a cidr", "[http]\ntrusted_proxies = [\"nginx\"]\n", nil, `http.trusted_proxies: "nginx" is not a CIDR`},
		{"trusted proxy everyone", "", map[string]string{"MGV_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, 0.0.0.0/0"}, `environment MGV_HTTP_TRUSTED_PROXIES (http.trusted_proxies): "0.0.0.0/0" trusts every address`},
		{"max keys", "[ratelimit]\nenabled = true\nmax_keys = 10\n", nil, "ratelimit.max_keys: must be 1000..10000000 (got 10)"},
		{"pro dsn password in the file", "[app]\nenv = \"pro\"\n[database]\ndriver = \"mysql\"\ndsn = \"mgvcore:hunter2pw@tcp(127.0.0.1:3306)/mgvcore\"\n", nil, "database.dsn: has a password written in the config file; pro takes credentials only from the environment (MGV_DATABASE_DSN)"},
		{"pro collector password in the file", "[app]\nenv = \"pro\"\n[tracing]\nenabled = true\ncollector_url = \"http://j:pw@127.0.0.1:14268/api/traces\"\n", nil, "tracing.collector_url: has a password written in the config file"},
		{"nan from the environment", "", map[string]string{"MGV_BREAKER_FAILURE_RATE": "NaN"}, `environment MGV_BREAKER_FAILURE_RATE (breaker.failure_rate): invalid number "NaN"`},
		{"nan in the file", "[breaker]\nenabled = true\nfailure_rate = nan\n", nil, "breaker.failure_rate: must be a finite number (got NaN)"},
		{"inf in the file", "[tracing]\nsampler_param = inf\n", nil, "tracing.sampler_param: must be a finite number (got +Inf)"},
		{"port out of range", "[http]\naddr = \"127.0.0.1:99999\"\n", nil, `http.addr: must have a port number 0..65535 (got "99999")`},
		{"two listeners on one port", "[http]\naddr = \":2022\"\n", nil, "grpc.addr: must not use the port of http.addr (2022)"},
		{"one port spelled two ways", "[http]\naddr = \"127.0.0.1:02022\"\n[grpc]\naddr = \":2022\"\n", nil, "grpc.addr: must not use the port of http.addr (2022)"},
		{"password in a bad search url", "", map[string]string{"MGV_SEARCH_ENGINE": "elasticsearch", "MGV_SEARCH_URLS": "htps://elastic:Sekr3tEsPw@127.0.0.1:9299"}, `environment MGV_SEARCH_URLS (search.urls): must be http(s) URLs such as http://127.0.0.1:9200 (got "htps://elastic:xxxxx@127.0.0.1:9299")`},
		{"password in an unparsed collector url", "", map[string]string{"MGV_TRACING_ENABLED": "true", "MGV_TRACING_COLLECTOR_URL": "http//jaeg:Sekr3tJgPw@127.0.0.1:14299/api/traces"}, `environment MGV_TRACING_COLLECTOR_URL (tracing.collector_url): must be an http(s) URL such as http://127.0.0.1:14268/api/traces (got "…@127.0.0.1:14299/api/traces")`},
		{"no connections", "[http]\nmax_connections = 0\n", nil, "http.max_connections: must be greater than 0 (got 0)"},
		{"client over the total", "[grpc]\nmax_connections = 10\nmax_connections_per_client = 11\n", nil, "grpc.max_connections_per_client: must be at most grpc.max_connections (10; got 11)"},
		{"pprof not loopback", "[admin]\naddr = \"0.0.0.0:2024\"\npprof = true\n", nil, "admin.addr: must be a loopback address"},
		{"tier missing", "[ratelimit]\nenabled = true\ndefault_tier = \"gold\"\n", nil, `ratelimit.default_tier: names no tier under [ratelimit.tiers] (got "gold")`},
		{"tier nobody may wait", "[ratelimit]\nenabled = true\n[ratelimit.tiers.standard]\nrps = 10\nburst = 0\n", nil, "ratelimit.tiers.standard.burst: must be greater than 0 (got 0)"},
		{"heavy calls below zero", "[ratelimit]\nenabled = true\n[ratelimit.tiers.standard]\nrps = 10\nburst = 1\nheavy_calls = -1\n", nil, "ratelimit.tiers.standard.heavy_calls: must be 1..16, half of database.max_open_conns (32), so that one tenant cannot keep the whole pool busy; or left out for a quarter of it (got -1)"},
		{"anon nobody may wait", "[ratelimit]\nenabled = true\nanon_burst = 0\n", nil, "ratelimit.anon_burst: must be greater than 0 (got 0)"},
		{"breaker no window", "[breaker]\nenabled = true\nwindow = \"0s\"\n", nil, "breaker.window: must be a positive duration"},
		{"breaker no samples", "[breaker]\nenabled = true\nmin_samples = 0\n", nil, "breaker.min_samples: must be greater than 0 (got 0)"},
		{"tracing no endpoint", "[tracing]\nenabled = true\n", nil, "tracing.agent_addr: or tracing.collector_url is required"},
		{"tracing bad collector", "[tracing]\nenabled = true\ncollector_url = \"127.0.0.1:14268\"\n", nil, "tracing.collector_url: must be an http(s) URL"},
		{"tracing bad agent", "[tracing]\nenabled = true\nagent_addr = \"6831\"\n", nil, "tracing.agent_addr: must be host:port"},
		{"tracing const param", "[tracing]\nenabled = true\nagent_addr = \":6831\"\nsampler_param = 0.5\n", nil, "tracing.sampler_param: must be 0 or 1 for the const sampler"},
		{"consul check interval under Consul's least", "[consul]\nenabled = true\ncheck_interval = \"500ms\"\n", nil, "consul.check_interval: must be at least 1s, the shortest interval Consul runs a check at (got 500ms)"},
		{"consul deregistration under Consul's least", "[consul]\nenabled = true\nderegister_critical_service_after = \"10s\"\n", nil, "consul.deregister_critical_service_after: must be at least 1m0s, the shortest Consul reaps a critical service after (got 10s)"},
		{"consul check interval negative", "[consul]\nenabled = true\ncheck_interval = \"-1s\"\n", nil, "consul.check_interval: must be at least 1s"},
		{"consul advertise with port", "[consul]\nenabled = true\nadvertise_addr = \"10.0.0.5:2023\"\n", nil, "consul.advertise_addr: must be a host or IP without a port"},
		{"indexer no workers", "[search]\nindexer_workers = 0\n", nil, "search.indexer_workers: must be 1..16 (got 0)"},
		{"recent ttl zero", "[search]\nrecent_ttl = \"0s\"\n", nil, "search.recent_ttl: must be above 0 and at most 10m"},
		{"recent sweep over ttl", "[search]\nrecent_ttl = \"5s\"\nrecent_sweep = \"6s\"\n", nil, "search.recent_sweep: must be above 0 and at most search.recent_ttl"},
		{"catch-up refresh negative", "[search]\ncatchup_refresh = \"-1s\"\n", nil, "search.catchup_refresh: must not be negative"},
		{"slow query negative", "[database]\nslow_query = \"-1ms\"\n", nil, "database.slow_query: must not be negative"},
		{"tracing caller budget negative", "[tracing]\nenabled = true\nagent_addr = \":6831\"\ncaller_sampled_rps = -1\n", nil, "tracing.caller_sampled_rps: must be traces per second, 0 or more (got -1)"},
		{"header bound too small", "[http]\nmax_header_bytes = 1024\n", nil, "http.max_header_bytes: must be at least 4096 (got 1024)"},
		{"metadata bound too small", "[grpc]\nmax_header_list_bytes = 0\n", nil, "grpc.max_header_list_bytes: must be at least 4096 (got 0)"},
		{"metadata bound too large", "[grpc]\nmax_header_list_bytes = 5000000000\n", nil, "grpc.max_header_list_bytes: must be at most 4294967295 (got 5000000000)"},
		{"tracing per-client budget negative", "[tracing]\nenabled = true\nagent_addr = \":6831\"\ncaller_sampled_per_client_rps = -2\n", nil, "tracing.caller_sampled_per_client_rps: must be traces per second, 0 or more (got -2)"},
		{"tracing no service", "[tracing]\nenabled = true\nagent_addr = \":6831\"\nservice_name = \"\"\n", nil, "tracing.service_name: is required"},
		{"bad value from the environment", "[http]\nmax_body_bytes = 1048576\n", map[string]string{"MGV_HTTP_MAX_BODY_BYTES": "-1"}, "environment MGV_HTTP_MAX_BODY_BYTES (http.max_body_bytes): must be greater than 0 (got -1)"},
		{"bad value in the file", "[http]\nmax_body_bytes = -1\n", nil, "config file x.toml: http.max_body_bytes: must be greater than 0 (got -1)"},
		{"request timeout of a nanosecond", "", map[string]string{"MGV_HTTP_REQUEST_TIMEOUT": "1ns"}, "environment MGV_HTTP_REQUEST_TIMEOUT (http.request_timeout): must be at least 100ms (got 1ns)"},
		{"read timeout of a nanosecond", "[http]\nread_timeout = \"1ns\"\n", nil, "config file x.toml: http.read_timeout: must be at least 100ms (got 1ns)"},
		{"read header timeout of a millisecond", "[http]\nread_header_timeout = \"1ms\"\n", nil, "http.read_header_timeout: must be at least 100ms (got 1ms)"},
		{"write timeout of a millisecond", "[http]\nwrite_timeout = \"1ms\"\n", nil, "http.write_timeout: must be at least 100ms (got 1ms)"},
		{"grpc request timeout of a nanosecond", "", map[string]string{"MGV_GRPC_REQUEST_TIMEOUT": "1ns"}, "environment MGV_GRPC_REQUEST_TIMEOUT (grpc.request_timeout): must be at least 100ms (got 1ns)"},
		{"stream timeout of a millisecond", "", map[string]string{"MGV_GRPC_STREAM_TIMEOUT": "1ms"}, "environment MGV_GRPC_STREAM_TIMEOUT (grpc.stream_timeout): must be at least 1s (got 1ms)"},
		{"handshake timeout of a millisecond", "[grpc]\nhandshake_timeout = \"1ms\"\n", nil, "grpc.handshake_timeout: must be at least 100ms (got 1ms)"},
		{"operation timeout of a millisecond", "[timeouts]\n\"/mgv.open.v1.X/Y\" = \"1ms\"\n", nil, "timeouts./mgv.open.v1.X/Y: must be at least 100ms (got 1ms)"},
		{"dsn latin1", mysqlFile("?charset=latin1&parseTime=true"), nil, "config file x.toml: database.dsn: charset=latin1: must be utf8mb4 or left out"},
		{"dsn utf8mb3", mysqlFile("?charset=utf8&parseTime=true"), nil, "database.dsn: charset=utf8: must be utf8mb4 or left out"},
		{"dsn utf8mb3 first", mysqlFile("?charset=utf8,utf8mb4"), nil, "database.dsn: charset=utf8,utf8mb4: must be utf8mb4 or left out"},
		{"dsn latin1 collation", mysqlFile("?collation=latin1_swedish_ci"), nil, "database.dsn: collation=latin1_swedish_ci: must be a utf8mb4 collation"},
		{"dsn session character set", mysqlFile("?character_set_results=%27latin1%27"), nil, "database.dsn: character_set_results=latin1: must be utf8mb4 or left out"},
		{"dsn china time", mysqlFile("?loc=Asia%2FShanghai&parseTime=true"), nil, "database.dsn: loc=Asia/Shanghai: must be UTC or left out"},
		{"dsn fixed offset", mysqlFile("?loc=Etc%2FGMT-8"), nil, "database.dsn: loc=Etc/GMT-8: must be UTC or left out"},
		{"dsn zero offset with a past", mysqlFile("?loc=Europe%2FLondon"), nil, "database.dsn: loc=Europe/London: must be UTC or left out"},
		{"dsn no time parsing", mysqlFile("?charset=utf8mb4&parseTime=false&loc=UTC"), nil, "database.dsn: parseTime=false: must be true or left out"},
		{"dsn from the environment", "", map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": "mgv:Sekr3tDbPw@tcp(127.0.0.1:3306)/mgv?charset=latin1"}, "environment MGV_DATABASE_DSN (database.dsn): charset=latin1: must be utf8mb4"},
		{"dsn that does not parse", mysqlFile("?parseTime=maybe"), nil, "database.dsn: is not a MySQL DSN such as"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.toml)
			if !strings.Contains(tc.toml, "[app]") {
				data = devFile(tc.toml)
			}
			_, err := Parse("x.toml", data, envOf(tc.env))
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

// mysqlFile is a config file body whose database is MySQL with params.
func mysqlFile(params string) string {
	return "[database]\ndriver = \"mysql\"\ndsn = \"mgv@tcp(127.0.0.1:3306)/mgv" + params + "\"\n"
}

// The DSNs the repository, its scripts and its deploy kit use, and those
// that leave out what the service needs (utf8mb4, UTC, parseTime), pass.
func TestMySQLDSNsThatMeanWhatTheServiceNeeds(t *testing.T) {
	for _, dsn := range []string{
		"mgv:mgv@tcp(127.0.0.1:3306)/mgvcore_test?charset=utf8mb4&parseTime=true&loc=UTC",
		"mgvcore@tcp(127.0.0.1:3306)/mgvcore?charset=utf8mb4&parseTime=true&loc=UTC",
		"mgv:p@ss w'rd@tcp(127.0.0.1:3306)/mgvcore?charset=utf8mb4&parseTime=true",
		"mgv@tcp(127.0.0.1:3306)/mgvcore",
		"mgv@unix(/run/mysqld/mysqld.sock)/mgvcore?collation=utf8mb4_unicode_ci&interpolateParams=false",
		"mgv@tcp(127.0.0.1:3306)/mgvcore?character_set_results=utf8mb4&loc=UTC",
		"mgv@tcp(127.0.0.1:3306)/mgvcore?charset=utf8mb4,utf8&parseTime=true",
		"mgv@tcp(127.0.0.1:3306)/mgvcore?loc=Etc%2FUTC",
		"mgv@tcp(127.0.0.1:3306)/mgvcore?loc=UCT",
	} {
		env := envOf(map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": dsn})
		if _, err := Parse("x.toml", devFile(""), env); err != nil {
			t.Errorf("%s: %v", dsn, err)
		}
	}
	// SQLite's DSN is a path with its own parameters.
	sqlite := envOf(map[string]string{"MGV_DATABASE_DSN": "data/mgv.db?charset=latin1&loc=Local"})
	if _, err := Parse("x.toml", devFile(""), sqlite); err != nil {
		t.Errorf("sqlite: %v", err)
	}
}

// loc=Local (the DSN of the driver's examples) stores UTC times on a host
// whose zone is UTC, and is refused on a host of another zone, naming it.
func TestMySQLDSNLocalIsTheHostsZone(t *testing.T) {
	host := time.Local
	t.Cleanup(func() { time.Local = host })
	env := envOf(map[string]string{"MGV_DATABASE_DRIVER": "mysql", "MGV_DATABASE_DSN": "mgv@tcp(127.0.0.1:3306)/mgvcore?charset=utf8mb4&parseTime=True&loc=Local"})
	for _, zone := range []string{"UTC", "Etc/UTC", "Asia/Shanghai", "Europe/London"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		time.Local = loc
		_, err = Parse("x.toml", devFile(""), env)
		if utc := zone == "UTC" || zone == "Etc/UTC"; utc != (err == nil) {
			t.Errorf("host in %s: %v", zone, err)
		}
		if err != nil && !strings.Contains(err.Error(), "environment MGV_DATABASE_DSN (database.dsn): loc=Local (the host's time zone, ") {
			t.Errorf("host in %s: %v", zone, err)
		}
	}
	time.Local = time.FixedZone("CST", 8*3600)
	if _, err := Parse("x.toml", devFile(""), env); err == nil || !strings.Contains(err.Error(), "loc=Local (the host's time zone, CST, UTC+08:00): must be UTC or left out") {
		t.Errorf("host in China time: %v", err)
	}
}

// A file must say which environment it is: every refusal of unsafe
// settings hangs on app.env, and a pro file that lost the line, an empty
// file or one of bytes that are no TOML text would otherwise run as dev.
func TestEveryConfigFileNamesItsEnv(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(shippedDir, "config_pro.toml"))
	if err != nil {
		t.Fatal(err)
	}
	lost := strings.Replace(string(data), "env = \"pro\"\n", "", 1)
	lost = strings.Replace(lost, "reflection = false", "reflection = true", 1)
	lost = strings.Replace(lost, "pprof = false", "pprof = true", 1)
	lost = strings.Replace(lost, "[auth]\n", "[auth]\njwt_secret = \"short\"\n", 1)
	if lost == string(data) {
		t.Fatal("config_pro.toml has no env line to remove")
	}
	const want = "app.env: is required in every config file unless MGV_APP_ENV is set: one of dev, test, pro"
	files := map[string][]byte{
		"pro without env": []byte(lost),
		"empty":           nil,
		"comments only":   []byte("# env = \"pro\"\n\n"),
		"UTF-16 mark":     []byte("\xff\xfe"),
		"app without env": []byte("[app]\nbanner = \"b.txt\"\n"),
	}
	for name, file := range files {
		cfg, err := Parse("c.toml", file, envOf(map[string]string{"MGV_DATABASE_DSN": "data/x.db"}))
		if err == nil {
			t.Errorf("%s: accepted as env %s", name, cfg.App.Env)
		} else if err.Error() != "config file c.toml: "+want {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	// MGV_APP_ENV says it for a file that does not: the file runs as that
	// environment, with its refusals.
	for name, file := range files {
		if name == "UTF-16 mark" || name == "pro without env" {
			continue
		}
		cfg, err := Parse("c.toml", file, envOf(map[string]string{"MGV_APP_ENV": "test"}))
		if err != nil || cfg.App.Env != "test" {
			t.Errorf("%s with MGV_APP_ENV=test: %v", name, err)
		}
	}
	unsafe := strings.Replace(string(data), "env = \"pro\"\n", "", 1)
	unsafe = strings.Replace(unsafe, "reflection = false", "reflection = true", 1)
	_, err = Parse("c.toml", []byte(unsafe), envOf(map[string]string{"MGV_APP_ENV": "pro", "MGV_AUTH_JWT_SECRET": strings.Repeat("k7Qw", 10)}))
	if err == nil || !strings.Contains(err.Error(), "grpc.reflection") {
		t.Errorf("pro file without env, MGV_APP_ENV=pro: %v", err)
	}
	for _, bad := range []string{"", "prod"} {
		_, err = Parse("c.toml", nil, envOf(map[string]string{"MGV_APP_ENV": bad}))
		if err == nil || !strings.Contains(err.Error(), "environment MGV_APP_ENV (app.env): must be one of") {
			t.Errorf("MGV_APP_ENV=%q: %v", bad, err)
		}
	}
}

func TestEnvOverridesEveryKind(t *testing.T) {
	cfg, err := Parse("x.toml", devFile("[http]\naddr = \":1\"\n"), envOf(map[string]string{
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

// strongSecret passes every check pro makes.
const strongSecret = "q3T9vXk2LmP8wZr4YbN6cH1sJd7Fg0Ue5Ai"

func TestTrustedProxiesFromFileAndEnv(t *testing.T) {
	cfg, err := Parse("x.toml", devFile("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n"), noEnv)
	if err != nil || len(cfg.HTTP.TrustedProxies) != 2 {
		t.Fatalf("file: %v %v", cfg, err)
	}
	cfg, err = Parse("x.toml", devFile(""), envOf(map[string]string{"MGV_HTTP_TRUSTED_PROXIES": "192.0.2.0/24, 127.0.0.1"}))
	if err != nil || strings.Join(cfg.HTTP.TrustedProxies, " ") != "192.0.2.0/24 127.0.0.1" {
		t.Fatalf("env: %v %v", cfg.HTTP.TrustedProxies, err)
	}
	if len(Default().HTTP.TrustedProxies) != 0 {
		t.Fatal("a proxy is trusted by default")
	}
}

// Each unsafe production setting is refused with its key named, all of
// them on one line when there are several.
func TestProRefusesUnsafeSettings(t *testing.T) {
	pro := "[app]\nenv = \"pro\"\n[admin]\naddr = \"127.0.0.1:2024\"\n"
	secret := map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	if _, err := Parse("p.toml", []byte(pro), envOf(secret)); err != nil {
		t.Fatalf("a safe pro config is refused: %v", err)
	}
	cases := []struct {
		name, toml string
		env        map[string]string
		want       string
	}{
		{"dev secret", pro, map[string]string{"MGV_AUTH_JWT_SECRET": DevJWTSecrets[0]}, "auth.jwt_secret: is the development secret"},
		{"short secret", pro, map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret[:31]}, "auth.jwt_secret: must be at least 32 bytes in pro (got 31)"},
		{"no secret", pro, nil, "auth.jwt_secret: must be at least 32 bytes in pro (got 0)"},
		{"repeated character", pro, map[string]string{"MGV_AUTH_JWT_SECRET": strings.Repeat("a", 32)}, "auth.jwt_secret: has only 1 distinct characters"},
		{"repeated pattern", pro, map[string]string{"MGV_AUTH_JWT_SECRET": strings.Repeat("ab", 24)}, "auth.jwt_secret: has only 2 distinct characters"},
		{"secret in the file", pro + "[auth]\njwt_secret = \"" + strongSecret + "\"\n", nil, "auth.jwt_secret: is written in the config file; pro takes it only from MGV_AUTH_JWT_SECRET"},
		{"secret in the file, env too", pro + "[auth]\njwt_secret = \"" + strongSecret + "\"\n", secret, "auth.jwt_secret: is written in the config file"},
		{"reflection", pro + "[grpc]\nreflection = true\n", secret, "grpc.reflection: must be false in pro"},
		{"reflection from env", pro, with(map[string]string{"MGV_GRPC_REFLECTION": "true"}), "grpc.reflection: must be false in pro"},
		{"pprof", strings.Replace(pro, "[admin]\n", "[admin]\npprof = true\n", 1), secret, "admin.pprof: must be false in pro"},
		{"pprof from env", pro, with(map[string]string{"MGV_ADMIN_PPROF": "true"}), "admin.pprof: must be false in pro"},
		{"short audit retention", pro + "[audit]\nretention = \"4319h\"\n", secret, "audit.retention: must be at least 4320h0m0s (180 days) in pro (got 4319h0m0s)"},
		{"short audit retention from env", pro, with(map[string]string{"MGV_AUDIT_RETENTION": "720h"}), "audit.retention: must be at least"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.toml", []byte(tc.toml), envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line with %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "pro refuses unsafe settings") {
				t.Errorf("%v", err)
			}
		})
	}
	all := strings.Replace(pro, "[admin]\n", "[admin]\npprof = true\n", 1) + "[auth]\njwt_secret = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n[grpc]\nreflection = true\n"
	_, err := Parse("p.toml", []byte(all), noEnv)
	for _, key := range []string{"auth.jwt_secret: is written", "auth.jwt_secret: has only 1", "grpc.reflection", "admin.pprof"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("all unsafe at once: %v lacks %q", err, key)
		}
	}
	// dev and test keep their conveniences.
	for _, env := range []string{"dev", "test"} {
		if _, err := Parse("d.toml", []byte("[app]\nenv = \""+env+"\"\n[grpc]\nreflection = true\n[admin]\npprof = true\n[auth]\njwt_secret = \"x\"\n"), noEnv); err != nil {
			t.Errorf("%s: %v", env, err)
		}
	}
}

// The secret the repository ships (config_test.toml's) is one pro refuses
// by name; config_dev.toml ships none: each development instance creates
// its own.
func TestShippedSecretsAreKnown(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(shippedDir, "config_test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("config_test.toml", data, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(weakSecret(cfg.Auth.JWTSecret), "development secret") {
		t.Error("config_test.toml's jwt_secret is not in DevJWTSecrets")
	}
	var created bool
	dev := func() string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(shippedDir, "config_dev.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "\njwt_secret =") {
			t.Fatal("config_dev.toml ships a jwt_secret")
		}
		cfg, err := Parse("config_dev.toml", data, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		created = cfg.CreatedSecretFile() == filepath.Join("data", "jwt_secret")
		return cfg.Auth.JWTSecret
	}
	t.Chdir(t.TempDir())
	first := dev()
	if !created {
		t.Error("the first parse does not report the secret file it created")
	}
	if reason := weakSecret(first); reason != "" {
		t.Fatalf("the created development secret %s", reason)
	}
	fi, err := os.Stat(filepath.Join("data", "jwt_secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data/jwt_secret: %v %v", fi, err)
	}
	if again := dev(); again != first || created {
		t.Fatalf("a second start signs with another secret, or reports creating one (%v)", created)
	}
	t.Chdir(t.TempDir())
	if other := dev(); other == first {
		t.Fatal("two development installations share a secret")
	}
}

// auth.jwt_secret_file: pro reads a private file that exists and checks
// its secret like any other; outside pro a file others may read is made
// 0600. An empty file is refused, and a set jwt_secret wins over the file.
func TestJWTSecretFile(t *testing.T) {
	t.Chdir(t.TempDir())
	pro := "[app]\nenv = \"pro\"\n[admin]\naddr = \"127.0.0.1:2024\"\n[auth]\njwt_secret_file = \"s\"\n"
	dev := "[app]\nenv = \"dev\"\n[auth]\njwt_secret_file = \"s\"\n"
	write := func(content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile("s", []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod("s", mode); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Parse("p.toml", []byte(pro), noEnv); err == nil || !strings.Contains(err.Error(), "auth.jwt_secret_file: s does not exist; pro creates no secret") {
		t.Fatalf("pro with no file: %v", err)
	}
	if _, err := os.Stat("s"); err == nil {
		t.Fatal("pro created a secret file")
	}
	write(strongSecret+"\n", 0o644)
	if _, err := Parse("p.toml", []byte(pro), noEnv); err == nil || !strings.Contains(err.Error(), "has mode 0644: others may read the secret") {
		t.Fatalf("pro with a file others read: %v", err)
	}
	write(strongSecret+"\n", 0o400)
	cfg, err := Parse("p.toml", []byte(pro), noEnv)
	if err != nil || cfg.Auth.JWTSecret != strongSecret {
		t.Fatalf("pro with a private file: %q %v", cfg.Auth.JWTSecret, err)
	}
	write(strings.Repeat("a", 40), 0o600)
	if _, err := Parse("p.toml", []byte(pro), noEnv); err == nil || !strings.Contains(err.Error(), "auth.jwt_secret: has only 1 distinct characters") {
		t.Fatalf("pro with a weak secret in its file: %v", err)
	}
	cfg, err = Parse("p.toml", []byte(pro), envOf(map[string]string{"MGV_AUTH_JWT_SECRET": strongSecret + "x"}))
	if err != nil || cfg.Auth.JWTSecret != strongSecret+"x" {
		t.Fatalf("the environment's secret over the file: %q %v", cfg.Auth.JWTSecret, err)
	}
	write(strongSecret, 0o640)
	if cfg, err := Parse("d.toml", []byte(dev), noEnv); err != nil || cfg.Auth.JWTSecret != strongSecret {
		t.Fatalf("dev with a file others read: %v", err)
	}
	if fi, err := os.Stat("s"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev left the secret file readable by others: %v %v", fi, err)
	}
	write(" \n", 0o600)
	if _, err := Parse("d.toml", []byte(dev), noEnv); err == nil || !strings.Contains(err.Error(), "auth.jwt_secret_file: s is empty") {
		t.Fatalf("an empty file: %v", err)
	}
}

// Every refusal of unsafe settings hangs on app.env: an environment that
// sets MGV_APP_ENV=dev beside the pro file (a staging env file copied to
// production) would turn them all off, and pprof on with them.
func TestAProFileRunsAsPro(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(shippedDir, "config_pro.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"dev", "test"} {
		_, err := Parse("config_pro.toml", data, envOf(map[string]string{"MGV_APP_ENV": env, "MGV_ADMIN_PPROF": "true"}))
		if err == nil || !strings.Contains(err.Error(), "MGV_APP_ENV="+env+" cannot run the pro file") {
			t.Errorf("the pro file with MGV_APP_ENV=%s: %v, want it refused", env, err)
		}
	}
}

// Listeners may share a port number on different addresses of the host.
func TestOnePortOnTwoAddresses(t *testing.T) {
	cfg := Default()
	cfg.HTTP.Addr, cfg.GRPC.Addr = "10.0.0.5:2023", "127.0.0.1:2023"
	var got []string
	samePort([]string{"http.addr", cfg.HTTP.Addr, "grpc.addr", cfg.GRPC.Addr}, func(key, format string, args ...any) {
		got = append(got, key)
	})
	if len(got) != 0 {
		t.Fatalf("refused %v", got)
	}
}

// A tier that leaves heavy_calls out runs a quarter of the database pool
// at once; one that asks for more than half of the pool is refused.
func TestHeavyCallsFollowThePool(t *testing.T) {
	file := func(conns int, heavy string) []byte {
		return fmt.Appendf(nil, "[app]\nenv = \"dev\"\n[database]\nmax_open_conns = %d\n[ratelimit]\nenabled = true\n[ratelimit.tiers.standard]\nrps = 10\nburst = 1\n%s", conns, heavy)
	}
	for _, tc := range []struct {
		conns int
		heavy string
		want  int
	}{{64, "", 16}, {8, "", 2}, {2, "", 1}, {64, "heavy_calls = 32\n", 32}} {
		cfg, err := Parse("x.toml", file(tc.conns, tc.heavy), noEnv)
		if err != nil || cfg.RateLimit.Tiers["standard"].HeavyCalls != tc.want {
			t.Errorf("max_open_conns %d, %q: %+v %v, want heavy_calls %d", tc.conns, tc.heavy, cfg, err, tc.want)
		}
	}
	_, err := Parse("x.toml", file(64, "heavy_calls = 33\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "ratelimit.tiers.standard.heavy_calls: must be 1..32, half of database.max_open_conns (64)") {
		t.Errorf("heavy_calls over half the pool: %v", err)
	}
}
