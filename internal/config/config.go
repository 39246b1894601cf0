// Package config loads the service configuration from a TOML file, applies
// environment overrides and validates every value before anything starts.
//
// Environment rule: every key can be overridden by MGV_<SECTION>_<KEY>, the
// TOML path upper-cased with dots turned into underscores, for example
// grpc.client_auth → MGV_GRPC_CLIENT_AUTH. Lists are comma separated.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/clientip"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "MGV"

// DefaultMaxKeys is ratelimit.max_keys when the file leaves it out.
const DefaultMaxKeys = 100_000

// Config is the whole service configuration.
type Config struct {
	App       App       `toml:"app"`
	Log       Log       `toml:"log"`
	HTTP      HTTP      `toml:"http"`
	GRPC      GRPC      `toml:"grpc"`
	SSL       SSL       `toml:"ssl"`
	Process   Process   `toml:"process"`
	Admin     Admin     `toml:"admin"`
	Database  Database  `toml:"database"`
	Search    Search    `toml:"search"`
	Tracing   Tracing   `toml:"tracing"`
	Consul    Consul    `toml:"consul"`
	RateLimit RateLimit `toml:"ratelimit"`
	Breaker   Breaker   `toml:"breaker"`
	Auth      Auth      `toml:"auth"`
	Events    Events    `toml:"events"`
	Audit     Audit     `toml:"audit"`
	Webhooks  Webhooks  `toml:"webhooks"`
	Privacy   Privacy   `toml:"privacy"`
	Apps      Apps      `toml:"apps"`
	Trackers  Trackers  `toml:"trackers"`
	// Timeouts override the transport's request_timeout per operation,
	// e.g. "/mgv.open.v1.ConversationService/PutTranscript" = "2m".
	Timeouts map[string]Duration `toml:"timeouts"`

	// File is the path the configuration was read from.
	File string `toml:"-"`
	// secretInFile records that auth.jwt_secret was written in File, which
	// pro refuses.
	secretInFile bool
	// webhookKeyInFile records that webhooks.secret_key was written in
	// File, which pro refuses.
	webhookKeyInFile bool
	// auditKeyInFile records that audit.chain_key was written in File,
	// which pro refuses.
	auditKeyInFile bool
	// passwordsInFile names the settings written in File with a password
	// in them (a DSN's, a URL's user information), which pro refuses.
	passwordsInFile []string
	// secretCreated records that loading created auth.jwt_secret_file.
	secretCreated bool
}

// CreatedSecretFile is auth.jwt_secret_file when loading this
// configuration created it with a new random secret, else "".
func (c *Config) CreatedSecretFile() string {
	if c.secretCreated {
		return c.Auth.JWTSecretFile
	}
	return ""
}

// App names the environment and the banner.
type App struct {
	Env        string `toml:"env"`
	Banner     string `toml:"banner"`
	InstanceID string `toml:"instance_id"`
}

// Log configures zerolog.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"` // console | json
}

// HTTP configures the Echo server for web and app clients.
type HTTP struct {
	Addr         string `toml:"addr"`
	MaxBodyBytes int64  `toml:"max_body_bytes"`
	// MaxHeaderBytes bounds a request's line and headers (431 over it):
	// what a connection may make the server hold before any policy runs.
	MaxHeaderBytes    int      `toml:"max_header_bytes"`
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	RequestTimeout    Duration `toml:"request_timeout"`
	// TrustedProxies are the CIDRs (or single addresses) of the proxies
	// whose X-Forwarded-For / X-Real-IP are believed, over HTTP and as
	// gRPC metadata; from anyone else the TCP peer is the client. None by
	// default.
	TrustedProxies []string `toml:"trusted_proxies"`
	// ReadTimeout bounds reading one request's body; WriteTimeout writing
	// its response, except downloads (a transcript), which have
	// DownloadWriteTimeout. Set per request, so routes differ.
	ReadTimeout          Duration `toml:"read_timeout"`
	WriteTimeout         Duration `toml:"write_timeout"`
	DownloadWriteTimeout Duration `toml:"download_write_timeout"`
	// MaxConnections caps the connections open at once, and
	// MaxConnectionsPerClient those of one client address (an IPv6 /64;
	// trusted proxies count to the total only): each idle connection
	// holds tens of kilobytes until idle_timeout ends it.
	MaxConnections          int `toml:"max_connections"`
	MaxConnectionsPerClient int `toml:"max_connections_per_client"`
}

// GRPC configures the partner-facing gRPC server.
type GRPC struct {
	Addr            string `toml:"addr"`
	Reflection      bool   `toml:"reflection"`
	ClientAuth      string `toml:"client_auth"` // none | request | require
	MaxRecvMsgBytes int    `toml:"max_recv_msg_bytes"`
	// MaxHeaderListBytes bounds a call's metadata, read before anything
	// else about the call is known.
	MaxHeaderListBytes int `toml:"max_header_list_bytes"`
	// MaxConcurrentStreams caps the calls open at once on one connection;
	// grpc-go's default is no cap.
	MaxConcurrentStreams int      `toml:"max_concurrent_streams"`
	RequestTimeout       Duration `toml:"request_timeout"`
	// StreamTimeout bounds a whole PutTranscript stream (timeouts.<op>
	// overrides it).
	StreamTimeout Duration `toml:"stream_timeout"`
	// MaxStreamsPerApp, MaxStreamsPerTenant and MaxStreams cap concurrent
	// PutTranscript streams per app, per tenant (all its apps and users
	// together) and in total.
	MaxStreamsPerApp    int `toml:"max_streams_per_app"`
	MaxStreamsPerTenant int `toml:"max_streams_per_tenant"`
	MaxStreams          int `toml:"max_streams"`
	// MaxUntrustedReads caps the calls whose request message is being read
	// for a caller this instance does not vouch for: methods that need no
	// token (Ping, CreateAppToken, health, reflection) and calls with a
	// genuine token it no longer honours (revoked). grpc-go reads a whole
	// request, up to MaxRecvMsgBytes, before any interceptor runs.
	MaxUntrustedReads int `toml:"max_untrusted_reads"`
	// MaxConnections and MaxConnectionsPerClient cap the connections open
	// at once, as http's do.
	MaxConnections          int `toml:"max_connections"`
	MaxConnectionsPerClient int `toml:"max_connections_per_client"`
	// TranscriptBufferBytes bounds the transcript bytes all streams buffer
	// before their commit.
	TranscriptBufferBytes int64 `toml:"transcript_buffer_bytes"`
	// HandshakeTimeout bounds TLS and the HTTP/2 preface of a new
	// connection; MaxConnectionIdle closes a connection without calls.
	HandshakeTimeout  Duration `toml:"handshake_timeout"`
	MaxConnectionIdle Duration `toml:"max_connection_idle"`
	// KeepaliveMinTime is the shortest ping interval a client may use;
	// KeepaliveTime and KeepaliveTimeout are the server's pings to find
	// dead peers.
	KeepaliveMinTime Duration `toml:"keepalive_min_time"`
	KeepaliveTime    Duration `toml:"keepalive_time"`
	KeepaliveTimeout Duration `toml:"keepalive_timeout"`
}

// SSL locates the certificates of the gRPC server.
type SSL struct {
	Dir string `toml:"dir"`
	// Generate creates a development CA and certificates at start when they
	// are missing. Never enabled in production.
	Generate bool     `toml:"generate"`
	Hosts    []string `toml:"hosts"`
}

// Process configures the pid file and the zero-downtime upgrade.
type Process struct {
	PIDFile        string   `toml:"pid_file"`
	DrainTimeout   Duration `toml:"drain_timeout"`
	UpgradeTimeout Duration `toml:"upgrade_timeout"`
	// GCPercent is the garbage collector's target (Go's GOGC): the heap
	// grows by this percentage of the live heap between collections. 0
	// leaves the runtime's; a GOGC set in the environment wins.
	GCPercent int `toml:"gc_percent"`
}

// Admin is the operations listener: pprof (loopback only) and, when
// Metrics is on, /metrics, which then leaves the public HTTP port. In pro
// /metrics is always served here (see MetricsOnAdmin).
type Admin struct {
	Addr    string `toml:"addr"`
	Pprof   bool   `toml:"pprof"`
	Metrics bool   `toml:"metrics"`
}

// Database configures the SQL store.
type Database struct {
	Driver          string   `toml:"driver"` // sqlite (embedded) | mysql
	DSN             string   `toml:"dsn"`
	MaxOpenConns    int      `toml:"max_open_conns"`
	MaxIdleConns    int      `toml:"max_idle_conns"`
	ConnMaxLifetime Duration `toml:"conn_max_lifetime"`
	SlowQuery       Duration `toml:"slow_query"`
	AutoMigrate     bool     `toml:"auto_migrate"`
}

// Search configures the transcript search engine and its indexer.
type Search struct {
	Engine  string   `toml:"engine"` // embedded | elasticsearch
	Path    string   `toml:"path"`
	URLs    []string `toml:"urls"`
	Timeout Duration `toml:"timeout"`
	// Index is the Elasticsearch alias searched and written; the indices
	// behind it are <index>_v<mapping version>[_<time>].
	Index           string   `toml:"index"`
	Shards          int      `toml:"shards"`
	Replicas        int      `toml:"replicas"`
	RefreshInterval Duration `toml:"refresh_interval"`
	// MaxRetries is how often the client retries a failed request on
	// another node; HealthcheckInterval how often it checks the nodes.
	MaxRetries          int      `toml:"max_retries"`
	HealthcheckInterval Duration `toml:"healthcheck_interval"`
	// Indexer runs the outbox indexer in this process.
	Indexer bool `toml:"indexer"`
	// BatchSize jobs are claimed, read and bulk-written at once, at most
	// BulkRPS bulk requests a second (0: unpaced); PollInterval is the
	// wait when the outbox is empty.
	BatchSize int `toml:"batch_size"`
	// BulkBytes bounds one bulk request to Elasticsearch: a batch of long
	// transcripts goes as several, a document larger than this alone.
	BulkBytes    int      `toml:"bulk_bytes"`
	BulkRPS      int      `toml:"bulk_rps"`
	PollInterval Duration `toml:"poll_interval"`
	// IndexerWorkers index batches side by side (one reads the database
	// while another writes to the engine); they share BulkRPS.
	IndexerWorkers int `toml:"indexer_workers"`
	// Lease is how long a claimed job stays invisible to other instances;
	// a crashed instance's jobs come back after it.
	Lease Duration `toml:"lease"`
	// MaxBackoff caps the wait between retries of a failing job.
	MaxBackoff Duration `toml:"max_backoff"`
	// MaxLag turns /readyz's search_index check red when the oldest
	// pending job is older.
	MaxLag Duration `toml:"max_lag"`
	// CatchUpRefresh: when the indexer has caught up after writing, it
	// refreshes the Elasticsearch index so the writes are searchable at
	// once instead of at the next refresh_interval; at most once per this
	// long ("0s": never).
	CatchUpRefresh Duration `toml:"catchup_refresh"`
	// RecentTTL is the longest the indexer keeps a transcript committed in
	// this process in memory; RecentSweep how often it drops the expired
	// ones and those whose conversation was deleted on any instance. An
	// erasure reports done RecentTTL + RecentSweep after its last deletion.
	RecentTTL   Duration `toml:"recent_ttl"`
	RecentSweep Duration `toml:"recent_sweep"`
}

// Tracing configures Jaeger. Spans go to collector_url when it is set,
// else to the agent at agent_addr.
type Tracing struct {
	Enabled      bool    `toml:"enabled"`
	ServiceName  string  `toml:"service_name"`
	Sampler      string  `toml:"sampler"` // const | probabilistic | ratelimiting
	SamplerParam float64 `toml:"sampler_param"`
	AgentAddr    string  `toml:"agent_addr"`
	CollectorURL string  `toml:"collector_url"`
	// FlushInterval is how often buffered spans are sent at the latest.
	FlushInterval Duration `toml:"flush_interval"`
	// FlushTimeout bounds the final flush on stop and upgrade.
	FlushTimeout Duration `toml:"flush_timeout"`
	// CallerSampledRPS is how many traces per second callers may have
	// sampled through the sampled flag of their uber-trace-id; past it
	// the sampler decides, as for a new trace. 0 leaves every decision to
	// the sampler.
	CallerSampledRPS float64 `toml:"caller_sampled_rps"`
	// CallerSampledPerClientRPS is any one client address's share of
	// CallerSampledRPS (an IPv6 /64 is one client), so that one client
	// flagging every request cannot use it all up. 0: no share per client.
	CallerSampledPerClientRPS float64 `toml:"caller_sampled_per_client_rps"`
}

// Consul configures service registration.
type Consul struct {
	Enabled     bool   `toml:"enabled"`
	Addr        string `toml:"addr"`
	ServiceName string `toml:"service_name"`
	// AdvertiseAddr is the host or IP others reach this process at; empty
	// means the HTTP listener's IP, else the agent's node address.
	AdvertiseAddr                  string   `toml:"advertise_addr"`
	CheckInterval                  Duration `toml:"check_interval"`
	DeregisterCriticalServiceAfter Duration `toml:"deregister_critical_service_after"`
	Tags                           []string `toml:"tags"`
}

// RateLimit configures per-key pacing of inbound requests.
type RateLimit struct {
	Enabled     bool     `toml:"enabled"`
	DefaultTier string   `toml:"default_tier"`
	AnonRPS     int      `toml:"anon_rps"`
	AnonBurst   int      `toml:"anon_burst"`
	IdleEvict   Duration `toml:"idle_evict"`
	// MaxKeys caps the keys held at once. A new key past the cap takes
	// the place of the least recently used of a few idle keys sampled; when
	// none of them is idle the new key's call is refused with 429.
	MaxKeys int             `toml:"max_keys"`
	Tiers   map[string]Tier `toml:"tiers"`
}

// Tier is a named rate: requests per second and how many may wait.
type Tier struct {
	RPS int `toml:"rps"`
	// Burst is how many calls of one key may wait for the rate; one more is
	// refused at once with 429. At least 1.
	Burst int `toml:"burst"`
	// HeavyCalls is how many heavy calls (lists, searches, statistics,
	// audit-log and privacy reads) one tenant, its users and apps
	// together, runs at once on one instance; as many more wait in line,
	// and one more is refused at once with 429. Left out: a quarter of
	// database.max_open_conns (resolveHeavyCalls); at most half of it.
	HeavyCalls int `toml:"heavy_calls"`
}

// DefaultHeavyCalls is the heavy_calls of a tier built without a file
// (tests): a quarter of the production pool, max_open_conns 64.
const DefaultHeavyCalls = 16

// HeavyCallsOrDefault is t.HeavyCalls, or DefaultHeavyCalls when unset.
func (t Tier) HeavyCallsOrDefault() int {
	if t.HeavyCalls > 0 {
		return t.HeavyCalls
	}
	return DefaultHeavyCalls
}

// resolveHeavyCalls gives each tier that leaves heavy_calls out a quarter
// of the instance's database pool (at least 1), so that a tenant keeps at
// most that share of its connections busy with heavy calls.
func (c *Config) resolveHeavyCalls() {
	for name, t := range c.RateLimit.Tiers {
		if t.HeavyCalls == 0 {
			t.HeavyCalls = max(1, c.Database.MaxOpenConns/4)
			c.RateLimit.Tiers[name] = t
		}
	}
}

// Breaker configures circuit breakers. One trips on failure_rate of the
// calls in window once there are min_samples of them, or on
// consecutive_failures in a row (0: off); it refuses calls for cooldown,
// then lets one probe through.
type Breaker struct {
	Enabled         bool     `toml:"enabled"`
	FailureRate     float64  `toml:"failure_rate"`
	MinSamples      int64    `toml:"min_samples"`
	ConsecutiveFail int64    `toml:"consecutive_failures"`
	Window          Duration `toml:"window"`
	Cooldown        Duration `toml:"cooldown"`
}

// Auth configures tokens.
type Auth struct {
	JWTSecret string `toml:"jwt_secret"`
	// JWTSecretFile holds the secret when JWTSecret is not set; outside
	// pro it is created with a random secret when missing (see
	// secretFromFile).
	JWTSecretFile   string   `toml:"jwt_secret_file"`
	AccessTokenTTL  Duration `toml:"access_token_ttl"`
	RefreshTokenTTL Duration `toml:"refresh_token_ttl"`
	AppTokenTTL     Duration `toml:"app_token_ttl"`
	// Sign-in throttling, counted in the database for the whole fleet:
	// attempts per account (or app key) from one client, per account from
	// all clients it does not know, and per client address, in a window; a
	// client that signed in to an account stays known to it for
	// SigninKnownClientFor.
	SigninWindow               Duration `toml:"signin_window"`
	SigninAccountAttempts      int      `toml:"signin_account_attempts"`
	SigninAccountTotalAttempts int      `toml:"signin_account_total_attempts"`
	SigninKnownClientFor       Duration `toml:"signin_known_client_for"`
	SigninAddressAttempts      int      `toml:"signin_address_attempts"`
}

// SigninThrottleKey is the key of the sign-in throttle's buckets (the
// keyed hashes under which signin_throttle counts an account, an app key
// or a client address): one derived from auth.jwt_secret under its own
// label, which every instance of a fleet shares as it shares the secret,
// so they all count one account in one bucket. It is not configured on
// its own: nothing outside the fleet needs it, and a new auth.jwt_secret
// only starts every budget afresh.
func (c *Config) SigninThrottleKey() string {
	return "signin-throttle:" + c.Auth.JWTSecret
}

// MetricsOnAdmin reports whether /metrics is served on admin.addr instead of
// the public HTTP port: when admin.metrics is set, and always in pro.
func (c *Config) MetricsOnAdmin() bool {
	return c.Admin.Metrics || c.App.Env == global.EnvPro
}

// Duration is a time.Duration written as "3s" in TOML and environment values.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("invalid duration %q (write it like \"3s\" or \"500ms\")", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Locate picks the config file: the flag, else MGV_CONFIG, else
// config/config.toml (a local symlink or copy), else config/config_dev.toml.
func Locate(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(EnvConfig); env != "" {
		return env
	}
	if _, err := os.Stat(filepath.Join("config", "config.toml")); err == nil {
		return filepath.Join("config", "config.toml")
	}
	return filepath.Join("config", "config_dev.toml")
}

// Load reads, overrides and validates the configuration at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s: not found", path)
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return Parse(path, data, Environ(os.Environ()))
}

// Parse decodes data (read from path), applies overrides from env and
// validates the result. An MGV_ variable of env that is not a setting is
// refused (see notSettings for the few others the binary reads). Relative
// paths inside the file stay relative to the working directory, as the
// service is started from the project root.
func Parse(path string, data []byte, env Environment) (*Config, error) {
	cfg := Default()
	md, err := toml.Decode(string(data), cfg)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %s", path, oneLine(err))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, fmt.Errorf("config file %s: unknown key %q", path, undecoded[0].String())
	}
	if !md.IsDefined("app", "env") && !env.has(EnvName("app.env")) {
		// Every refusal of unsafe settings hangs on app.env: a pro file
		// that lost the line (or an empty file) would run as dev. Set in
		// the environment, MGV_APP_ENV says it (and is checked as any
		// override is).
		return nil, fmt.Errorf("config file %s: app.env: is required in every config file unless %s is set: one of %s, %s, %s", path, EnvName("app.env"), global.EnvDev, global.EnvTest, global.EnvPro)
	}
	cfg.secretInFile = md.IsDefined("auth", "jwt_secret")
	cfg.webhookKeyInFile = md.IsDefined("webhooks", "secret_key")
	cfg.auditKeyInFile = md.IsDefined("audit", "chain_key")
	cfg.passwordsInFile = passwordsIn(cfg)
	if err := checkEnvNames(cfg, env); err != nil {
		return nil, err
	}
	fileEnv := cfg.App.Env
	if err := applyEnv(cfg, env); err != nil {
		return nil, err
	}
	if fileEnv == global.EnvPro && cfg.App.Env != global.EnvPro {
		// Every refusal of unsafe settings hangs on app.env: one stray
		// variable would turn them all off.
		return nil, fmt.Errorf("environment: %s_APP_ENV=%s cannot run the pro file %s as %s; a pro file runs as pro", EnvPrefix, cfg.App.Env, path, cfg.App.Env)
	}
	if err := checkEnvInPro(cfg, env); err != nil {
		return nil, err
	}
	if err := cfg.secretFromFile(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	cfg.resolveHeavyCalls()
	if err := cfg.Validate(); err != nil {
		var bad *settingError
		if errors.As(err, &bad) {
			if name := EnvName(bad.key); env.has(name) {
				return nil, fmt.Errorf("environment %s (%s): %s", name, bad.key, bad.msg)
			}
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	cfg.File = path
	return cfg, nil
}

func oneLine(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// nonFinite refuses every number setting under v (at path) that is NaN or
// infinite, which TOML spells nan and inf: no comparison holds with NaN, so
// a failure_rate of nan would turn the breaker off without a word.
func nonFinite(v reflect.Value, path []string, bad func(key, format string, args ...any)) {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			bad(strings.Join(path, "."), "must be a finite number (got %v)", f)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			switch {
			case !f.IsExported() || name == "-":
			case name == "" && f.Anonymous:
				nonFinite(v.Field(i), path, bad)
			case name != "":
				nonFinite(v.Field(i), append(path[:len(path):len(path)], name), bad)
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			nonFinite(v.MapIndex(k), append(path[:len(path):len(path)], fmt.Sprint(k.Interface())), bad)
		}
	case reflect.Slice:
		for i := range v.Len() {
			nonFinite(v.Index(i), append(path[:len(path):len(path)], strconv.Itoa(i)), bad)
		}
	}
}

// samePort refuses two listening addresses (key, value pairs) on one port
// of one host (a host left out, or 0.0.0.0 / ::, is every host): the second
// listener would fail to start with an error naming itself, not the setting
// that took its port. Port 0 (any free port) never conflicts.
func samePort(keyValues []string, bad func(key, format string, args ...any)) {
	type listen struct {
		key, host string
		port      uint64
	}
	var seen []listen
	for i := 0; i+1 < len(keyValues); i += 2 {
		key, v := keyValues[i], keyValues[i+1]
		host, p, err := net.SplitHostPort(v)
		if err != nil {
			continue
		}
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil || port == 0 {
			continue
		}
		for _, o := range seen {
			if o.port == port && (everyHost(host) || everyHost(o.host) || o.host == host) {
				bad(key, "must not use the port of %s (%d)", o.key, port)
				break
			}
		}
		seen = append(seen, listen{key, host, port})
	}
}

// everyHost tells whether a listening address's host is every address of
// the machine: left out, 0.0.0.0 or ::.
func everyHost(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

// RedactURL is u as it may be logged or echoed: the password of its user
// information masked, or, when u has no user information that parses
// (http//user:pw@host is a path), everything up to its last "@", where
// user information would end, left out.
func RedactURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		return p.Redacted()
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		return "…@" + u[i+1:]
	}
	return u
}

// Default returns the values used for keys a file leaves out.
func Default() *Config {
	return &Config{
		App: App{Env: global.EnvDev, Banner: "config/banner.txt"},
		Log: Log{Level: "info", Format: "console"},
		HTTP: HTTP{
			Addr:              ":2023",
			MaxBodyBytes:      1 << 20,
			MaxHeaderBytes:    32 << 10,
			ReadHeaderTimeout: Duration{5 * time.Second},
			IdleTimeout:       Duration{90 * time.Second},
			RequestTimeout:    Duration{10 * time.Second},

			ReadTimeout:          Duration{30 * time.Second},
			WriteTimeout:         Duration{30 * time.Second},
			DownloadWriteTimeout: Duration{5 * time.Minute},

			MaxConnections:          4096,
			MaxConnectionsPerClient: 256,
		},
		GRPC: GRPC{
			Addr:                 ":2022",
			ClientAuth:           "none",
			MaxRecvMsgBytes:      16 << 20,
			MaxHeaderListBytes:   32 << 10,
			MaxConcurrentStreams: 100,
			RequestTimeout:       Duration{30 * time.Second},

			StreamTimeout:           Duration{5 * time.Minute},
			MaxStreamsPerApp:        8,
			MaxStreamsPerTenant:     32,
			MaxStreams:              64,
			MaxUntrustedReads:       4,
			MaxConnections:          1024,
			MaxConnectionsPerClient: 32,
			TranscriptBufferBytes:   128 << 20,
			HandshakeTimeout:        Duration{10 * time.Second},
			MaxConnectionIdle:       Duration{time.Minute},
			KeepaliveMinTime:        Duration{10 * time.Second},
			KeepaliveTime:           Duration{2 * time.Minute},
			KeepaliveTimeout:        Duration{20 * time.Second},
		},
		SSL:     SSL{Dir: "ssl", Hosts: []string{"localhost", "127.0.0.1", "::1"}},
		Process: Process{PIDFile: "run/mgvcore.pid", DrainTimeout: Duration{15 * time.Second}, UpgradeTimeout: Duration{30 * time.Second}, GCPercent: 200},
		Admin:   Admin{Addr: "127.0.0.1:6060"},
		Database: Database{
			Driver:          "sqlite",
			DSN:             "data/mgvcore.db",
			MaxOpenConns:    32,
			MaxIdleConns:    8,
			ConnMaxLifetime: Duration{30 * time.Minute},
			SlowQuery:       Duration{200 * time.Millisecond},
		},
		Search: Search{
			Engine: "embedded", Path: "data/search", Timeout: Duration{5 * time.Second},
			Index: "mgv_conversations", Shards: 1, Replicas: 0, RefreshInterval: Duration{time.Second},
			MaxRetries: 2, HealthcheckInterval: Duration{5 * time.Second},
			Indexer: true, BatchSize: 200, BulkBytes: 10 << 20, BulkRPS: 20, PollInterval: Duration{200 * time.Millisecond}, IndexerWorkers: 2,
			CatchUpRefresh: Duration{250 * time.Millisecond},
			RecentTTL:      Duration{15 * time.Second}, RecentSweep: Duration{time.Second},
			Lease: Duration{30 * time.Second}, MaxBackoff: Duration{10 * time.Second}, MaxLag: Duration{10 * time.Minute},
		},
		Tracing: Tracing{
			ServiceName:   global.Name,
			Sampler:       "const",
			SamplerParam:  1,
			FlushInterval: Duration{time.Second},
			FlushTimeout:  Duration{2 * time.Second},
			// Enough for an upstream that samples 1 % of a few thousand
			// calls per second.
			CallerSampledRPS:          100,
			CallerSampledPerClientRPS: 10,
		},
		Consul: Consul{
			Addr:                           "127.0.0.1:8500",
			ServiceName:                    global.Name,
			CheckInterval:                  Duration{5 * time.Second},
			DeregisterCriticalServiceAfter: Duration{time.Minute},
		},
		RateLimit: RateLimit{
			DefaultTier: "standard",
			AnonRPS:     20,
			AnonBurst:   20,
			IdleEvict:   Duration{5 * time.Minute},
			MaxKeys:     DefaultMaxKeys,
			Tiers:       map[string]Tier{"standard": {RPS: 200, Burst: 100}},
		},
		Breaker: Breaker{FailureRate: 0.5, MinSamples: 20, ConsecutiveFail: 10, Window: Duration{10 * time.Second}, Cooldown: Duration{5 * time.Second}},
		Auth: Auth{
			AccessTokenTTL:  Duration{15 * time.Minute},
			RefreshTokenTTL: Duration{30 * 24 * time.Hour},
			AppTokenTTL:     Duration{2 * time.Hour},

			SigninWindow:               Duration{15 * time.Minute},
			SigninAccountAttempts:      5,
			SigninAccountTotalAttempts: 50,
			SigninKnownClientFor:       Duration{30 * 24 * time.Hour},
			SigninAddressAttempts:      100,
		},
		Events:   defaultEvents(),
		Audit:    defaultAudit(),
		Webhooks: defaultWebhooks(),
		Apps:     defaultApps(),
		Trackers: defaultTrackers(),
		Privacy: Privacy{ConfirmOver: 100, ConfirmWithin: Duration{7 * 24 * time.Hour}, ErasureBatch: 50, ErasureLease: Duration{30 * time.Second},
			RetentionEvery: Duration{24 * time.Hour}, RetentionPoll: Duration{time.Minute}},
	}
}

// minHeaderBytes is the least a request's headers may be bounded to: an
// ordinary call's headers, a token among them, take about 1 KiB.
const minHeaderBytes = 4 << 10

// settingError is what is wrong with the value of one setting (key).
type settingError struct{ key, msg string }

func (e *settingError) Error() string { return e.key + ": " + e.msg }

// badSetting is the error of key's value, described by format and args.
func badSetting(key, format string, args ...any) error {
	return &settingError{key: key, msg: fmt.Sprintf(format, args...)}
}

// EnvName is the variable that overrides the setting key (a TOML path such
// as http.max_body_bytes).
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// The least values of the deadlines a request or a connection lives by:
// below them every call would end before it could be served. Far under
// anything a deployment runs with, and under the tests' shortest.
const (
	minRequestTimeout = 100 * time.Millisecond
	minStreamTimeout  = time.Second
)

// Validate checks every value and names the first bad key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, badSetting(key, format, args...))
	}
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(key, "must be one of %s (got %q)", strings.Join(allowed, ", "), v)
	}
	addr := func(key, v string, required bool) {
		if v == "" {
			if required {
				bad(key, "is required")
			}
			return
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil || port == "" {
			bad(key, "must be host:port or :port (got %q)", v)
			return
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad(key, "must have a port number 0..65535 (got %q)", port)
		}
	}
	positive := func(key string, v int64) {
		if v <= 0 {
			bad(key, "must be greater than 0 (got %d)", v)
		}
	}
	positiveDur := func(key string, d Duration) {
		if d.Duration <= 0 {
			bad(key, "must be a positive duration (got %s)", d.Duration)
		}
	}
	atLeastDur := func(key string, d Duration, least time.Duration) {
		if d.Duration < least {
			bad(key, "must be at least %s (got %s)", least, d.Duration)
		}
	}
	atLeast := func(key string, v, least int) {
		if v < least {
			bad(key, "must be at least %d (got %d)", least, v)
		}
	}
	connectionCaps := func(section string, total, perClient int) {
		positive(section+".max_connections", int64(total))
		positive(section+".max_connections_per_client", int64(perClient))
		if perClient > total && total > 0 {
			bad(section+".max_connections_per_client", "must be at most %s.max_connections (%d; got %d)", section, total, perClient)
		}
	}

	nonFinite(reflect.ValueOf(c).Elem(), nil, bad)
	oneOf("app.env", c.App.Env, global.EnvDev, global.EnvTest, global.EnvPro)
	oneOf("log.level", c.Log.Level, "trace", "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "console", "json")
	addr("http.addr", c.HTTP.Addr, true)
	positive("http.max_body_bytes", c.HTTP.MaxBodyBytes)
	atLeast("http.max_header_bytes", c.HTTP.MaxHeaderBytes, minHeaderBytes)
	atLeastDur("http.read_header_timeout", c.HTTP.ReadHeaderTimeout, minRequestTimeout)
	positiveDur("http.idle_timeout", c.HTTP.IdleTimeout)
	atLeastDur("http.request_timeout", c.HTTP.RequestTimeout, minRequestTimeout)
	for _, p := range c.HTTP.TrustedProxies {
		if _, err := clientip.ParsePrefix(p); err != nil {
			bad("http.trusted_proxies", "%s", err)
		}
	}
	atLeastDur("http.read_timeout", c.HTTP.ReadTimeout, minRequestTimeout)
	atLeastDur("http.write_timeout", c.HTTP.WriteTimeout, minRequestTimeout)
	positiveDur("http.download_write_timeout", c.HTTP.DownloadWriteTimeout)
	if d, w := c.HTTP.DownloadWriteTimeout.Duration, c.HTTP.WriteTimeout.Duration; d > 0 && d < w {
		bad("http.download_write_timeout", "must be at least http.write_timeout (%s; got %s)", w, d)
	}
	addr("grpc.addr", c.GRPC.Addr, true)
	oneOf("grpc.client_auth", c.GRPC.ClientAuth, "none", "request", "require")
	positive("grpc.max_recv_msg_bytes", int64(c.GRPC.MaxRecvMsgBytes))
	atLeast("grpc.max_header_list_bytes", c.GRPC.MaxHeaderListBytes, minHeaderBytes)
	if n := c.GRPC.MaxHeaderListBytes; n > math.MaxUint32 {
		bad("grpc.max_header_list_bytes", "must be at most %d (got %d)", uint32(math.MaxUint32), n)
	}
	positive("grpc.max_concurrent_streams", int64(c.GRPC.MaxConcurrentStreams))
	if n := c.GRPC.MaxConcurrentStreams; n > math.MaxUint32 {
		bad("grpc.max_concurrent_streams", "must be at most %d (got %d)", uint32(math.MaxUint32), n)
	}
	atLeastDur("grpc.request_timeout", c.GRPC.RequestTimeout, minRequestTimeout)
	atLeastDur("grpc.stream_timeout", c.GRPC.StreamTimeout, minStreamTimeout)
	positive("grpc.max_streams_per_app", int64(c.GRPC.MaxStreamsPerApp))
	positive("grpc.max_streams", int64(c.GRPC.MaxStreams))
	positive("grpc.max_streams_per_tenant", int64(c.GRPC.MaxStreamsPerTenant))
	positive("grpc.max_untrusted_reads", int64(c.GRPC.MaxUntrustedReads))
	connectionCaps("http", c.HTTP.MaxConnections, c.HTTP.MaxConnectionsPerClient)
	connectionCaps("grpc", c.GRPC.MaxConnections, c.GRPC.MaxConnectionsPerClient)

	if b := c.GRPC.TranscriptBufferBytes; b < 1<<20 {
		bad("grpc.transcript_buffer_bytes", "must be at least 1048576 (got %d)", b)
	}
	atLeastDur("grpc.handshake_timeout", c.GRPC.HandshakeTimeout, minRequestTimeout)
	positiveDur("grpc.max_connection_idle", c.GRPC.MaxConnectionIdle)
	positiveDur("grpc.keepalive_min_time", c.GRPC.KeepaliveMinTime)
	positiveDur("grpc.keepalive_time", c.GRPC.KeepaliveTime)
	positiveDur("grpc.keepalive_timeout", c.GRPC.KeepaliveTimeout)
	if c.SSL.Dir == "" {
		bad("ssl.dir", "is required")
	}
	if c.SSL.Generate && c.App.Env == global.EnvPro {
		bad("ssl.generate", "must be false in pro: production certificates are provisioned, never generated")
	}
	if c.Process.PIDFile == "" {
		bad("process.pid_file", "is required")
	}
	positiveDur("process.drain_timeout", c.Process.DrainTimeout)
	positiveDur("process.upgrade_timeout", c.Process.UpgradeTimeout)
	if g := c.Process.GCPercent; g != 0 && (g < 25 || g > 1000) {
		bad("process.gc_percent", "must be 25..1000, or 0 for the runtime's default (got %d)", g)
	}
	addr("admin.addr", c.Admin.Addr, c.Admin.Pprof || c.MetricsOnAdmin())
	listens := []string{"http.addr", c.HTTP.Addr, "grpc.addr", c.GRPC.Addr}
	if c.Admin.Pprof || c.MetricsOnAdmin() {
		listens = append(listens, "admin.addr", c.Admin.Addr)
	}
	samePort(listens, bad)
	if c.Admin.Pprof && c.Admin.Addr != "" {
		if host, _, err := net.SplitHostPort(c.Admin.Addr); err == nil {
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				bad("admin.addr", "must be a loopback address when admin.pprof is on (got %q)", c.Admin.Addr)
			}
		}
	}
	oneOf("database.driver", c.Database.Driver, "sqlite", "mysql")
	if c.Database.DSN == "" {
		bad("database.dsn", "is required")
	} else if c.Database.Driver == "mysql" {
		checkMySQLDSN(c.Database.DSN, bad)
	}
	positive("database.max_open_conns", int64(c.Database.MaxOpenConns))
	if c.Database.MaxIdleConns < 0 {
		bad("database.max_idle_conns", "must not be negative (got %d)", c.Database.MaxIdleConns)
	}
	if c.Database.SlowQuery.Duration < 0 {
		bad("database.slow_query", "must not be negative; \"0s\" turns the slow query log off (got %s)", c.Database.SlowQuery.Duration)
	}
	if c.Database.AutoMigrate && c.App.Env == global.EnvPro {
		bad("database.auto_migrate", "must be false in pro: schema changes go through `mgvcore migrate` after review")
	}
	oneOf("search.engine", c.Search.Engine, "embedded", "elasticsearch")
	if c.Search.Engine == "embedded" && c.Search.Path == "" {
		bad("search.path", "is required for the embedded engine")
	}
	if c.Search.Engine == "elasticsearch" && len(c.Search.URLs) == 0 {
		bad("search.urls", "needs at least one URL for elasticsearch")
	}
	positiveDur("search.timeout", c.Search.Timeout)
	if c.Search.Engine == "elasticsearch" {
		for _, u := range c.Search.URLs {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				bad("search.urls", "must be http(s) URLs such as http://127.0.0.1:9200 (got %q)", RedactURL(u))
			}
		}
		if !validIndexName(c.Search.Index) {
			bad("search.index", "must be a lower-case Elasticsearch name of letters, digits, _ and - (got %q)", c.Search.Index)
		}
		positive("search.shards", int64(c.Search.Shards))
		if c.Search.Replicas < 0 {
			bad("search.replicas", "must not be negative (got %d)", c.Search.Replicas)
		}
		positiveDur("search.refresh_interval", c.Search.RefreshInterval)
		if c.Search.MaxRetries < 0 {
			bad("search.max_retries", "must not be negative (got %d)", c.Search.MaxRetries)
		}
		positiveDur("search.healthcheck_interval", c.Search.HealthcheckInterval)
	}
	positive("search.batch_size", int64(c.Search.BatchSize))
	if c.Search.BatchSize > 1000 {
		bad("search.batch_size", "must be at most 1000 (got %d)", c.Search.BatchSize)
	}
	if b := c.Search.BulkBytes; b < 1<<20 || b > 100<<20 {
		bad("search.bulk_bytes", "must be 1 MiB..100 MiB (1048576..104857600 bytes; Elasticsearch refuses a request over http.max_content_length, 100 MiB by default; got %d)", b)
	}
	if c.Search.IndexerWorkers < 1 || c.Search.IndexerWorkers > 16 {
		bad("search.indexer_workers", "must be 1..16 (got %d)", c.Search.IndexerWorkers)
	}
	if c.Search.BulkRPS < 0 {
		bad("search.bulk_rps", "must not be negative; 0 means unpaced (got %d)", c.Search.BulkRPS)
	}
	positiveDur("search.poll_interval", c.Search.PollInterval)
	positiveDur("search.lease", c.Search.Lease)
	positiveDur("search.max_backoff", c.Search.MaxBackoff)
	if c.Search.Lease.Duration > 0 && c.Search.Lease.Duration < 2*c.Search.Timeout.Duration {
		bad("search.lease", "must be at least twice search.timeout (%s), or jobs still being written would be claimed again (got %s)", c.Search.Timeout.Duration, c.Search.Lease.Duration)
	}
	positiveDur("search.max_lag", c.Search.MaxLag)
	if d := c.Search.RecentTTL.Duration; d <= 0 || d > 10*time.Minute {
		bad("search.recent_ttl", "must be above 0 and at most 10m (got %s)", d)
	}
	if d := c.Search.RecentSweep.Duration; d <= 0 || d > c.Search.RecentTTL.Duration {
		bad("search.recent_sweep", "must be above 0 and at most search.recent_ttl (got %s)", d)
	}
	if c.Search.CatchUpRefresh.Duration < 0 {
		bad("search.catchup_refresh", "must not be negative; \"0s\" turns it off (got %s)", c.Search.CatchUpRefresh.Duration)
	}
	if c.Tracing.Enabled {
		if c.Tracing.ServiceName == "" {
			bad("tracing.service_name", "is required when tracing is enabled")
		}
		oneOf("tracing.sampler", c.Tracing.Sampler, "const", "probabilistic", "ratelimiting")
		if c.Tracing.AgentAddr == "" && c.Tracing.CollectorURL == "" {
			bad("tracing.agent_addr", "or tracing.collector_url is required when tracing is enabled")
		}
		addr("tracing.agent_addr", c.Tracing.AgentAddr, false)
		if u := c.Tracing.CollectorURL; u != "" {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				bad("tracing.collector_url", "must be an http(s) URL such as http://127.0.0.1:14268/api/traces (got %q)", RedactURL(u))
			}
		}
		switch s, p := c.Tracing.Sampler, c.Tracing.SamplerParam; {
		case s == "const" && p != 0 && p != 1:
			bad("tracing.sampler_param", "must be 0 or 1 for the const sampler (got %g)", p)
		case s == "probabilistic" && (p < 0 || p > 1):
			bad("tracing.sampler_param", "must be within 0..1 for the probabilistic sampler (got %g)", p)
		case s == "ratelimiting" && p <= 0:
			bad("tracing.sampler_param", "must be traces per second above 0 for the ratelimiting sampler (got %g)", p)
		}
		positiveDur("tracing.flush_interval", c.Tracing.FlushInterval)
		positiveDur("tracing.flush_timeout", c.Tracing.FlushTimeout)
		if r := c.Tracing.CallerSampledRPS; r < 0 {
			bad("tracing.caller_sampled_rps", "must be traces per second, 0 or more (got %g)", r)
		}
		if r := c.Tracing.CallerSampledPerClientRPS; r < 0 {
			bad("tracing.caller_sampled_per_client_rps", "must be traces per second, 0 or more (got %g)", r)
		}
	}
	if c.Consul.Enabled {
		addr("consul.addr", c.Consul.Addr, true)
		if c.Consul.ServiceName == "" {
			bad("consul.service_name", "is required")
		}
		if a := c.Consul.AdvertiseAddr; a != "" {
			if _, _, err := net.SplitHostPort(a); err == nil || strings.ContainsAny(a, "/ ") {
				bad("consul.advertise_addr", "must be a host or IP without a port (got %q); the ports come from http.addr and grpc.addr", a)
			}
		}
		// The agent raises a shorter value to its minimum with a warning in
		// its own log only: the service would be checked, or reaped, other
		// than its config says.
		if d := c.Consul.CheckInterval.Duration; d < consulMinCheckInterval {
			bad("consul.check_interval", "must be at least %s, the shortest interval Consul runs a check at (got %s)", consulMinCheckInterval, d)
		}
		if d := c.Consul.DeregisterCriticalServiceAfter.Duration; d < consulMinDeregisterAfter {
			bad("consul.deregister_critical_service_after", "must be at least %s, the shortest Consul reaps a critical service after (got %s)", consulMinDeregisterAfter, d)
		}
	}
	if c.RateLimit.Enabled {
		if _, ok := c.RateLimit.Tiers[c.RateLimit.DefaultTier]; !ok {
			bad("ratelimit.default_tier", "names no tier under [ratelimit.tiers] (got %q)", c.RateLimit.DefaultTier)
		}
		positive("ratelimit.anon_rps", int64(c.RateLimit.AnonRPS))
		positive("ratelimit.anon_burst", int64(c.RateLimit.AnonBurst))
		positiveDur("ratelimit.idle_evict", c.RateLimit.IdleEvict)
		if c.RateLimit.MaxKeys < 1000 || c.RateLimit.MaxKeys > 10_000_000 {
			bad("ratelimit.max_keys", "must be 1000..10000000 (got %d)", c.RateLimit.MaxKeys)
		}
		for name, t := range c.RateLimit.Tiers {
			positive("ratelimit.tiers."+name+".rps", int64(t.RPS))
			positive("ratelimit.tiers."+name+".burst", int64(t.Burst))
			if most := max(1, c.Database.MaxOpenConns/2); t.HeavyCalls < 0 || t.HeavyCalls > most {
				bad("ratelimit.tiers."+name+".heavy_calls", "must be 1..%d, half of database.max_open_conns (%d), so that one tenant cannot keep the whole pool busy; or left out for a quarter of it (got %d)",
					most, c.Database.MaxOpenConns, t.HeavyCalls)
			}
		}
	}
	if c.Breaker.Enabled {
		if c.Breaker.FailureRate <= 0 || c.Breaker.FailureRate > 1 {
			bad("breaker.failure_rate", "must be within (0, 1] (got %g)", c.Breaker.FailureRate)
		}
		positive("breaker.min_samples", c.Breaker.MinSamples)
		if c.Breaker.ConsecutiveFail < 0 {
			bad("breaker.consecutive_failures", "must not be negative; 0 turns it off (got %d)", c.Breaker.ConsecutiveFail)
		}
		positiveDur("breaker.window", c.Breaker.Window)
		positiveDur("breaker.cooldown", c.Breaker.Cooldown)
	}
	positiveDur("auth.access_token_ttl", c.Auth.AccessTokenTTL)
	positiveDur("auth.refresh_token_ttl", c.Auth.RefreshTokenTTL)
	positiveDur("auth.app_token_ttl", c.Auth.AppTokenTTL)
	positiveDur("auth.signin_window", c.Auth.SigninWindow)
	if c.Auth.SigninAccountAttempts < 1 {
		bad("auth.signin_account_attempts", "must be at least 1")
	}
	if c.Auth.SigninAddressAttempts < c.Auth.SigninAccountAttempts {
		bad("auth.signin_address_attempts", "must be at least auth.signin_account_attempts")
	}
	if c.Auth.SigninAccountTotalAttempts < c.Auth.SigninAccountAttempts {
		bad("auth.signin_account_total_attempts", "must be at least auth.signin_account_attempts")
	}
	if c.Auth.SigninKnownClientFor.Duration < 0 {
		bad("auth.signin_known_client_for", "must not be negative (0: no client is known)")
	}
	errs = append(errs, c.Events.validate()...)
	for op, d := range c.Timeouts {
		atLeastDur("timeouts."+op, d, minRequestTimeout)
	}
	if err := c.Privacy.validate(); err != nil {
		errs = append(errs, err)
	}
	c.Audit.validate(bad)
	c.validateWebhooks(bad)
	c.Apps.validate(bad)
	c.Trackers.validate(bad)
	if len(errs) > 0 {
		return errs[0]
	}
	if c.App.Env == global.EnvPro {
		if unsafe := c.unsafeInPro(); len(unsafe) > 0 {
			return fmt.Errorf("pro refuses unsafe settings: %s", strings.Join(unsafe, "; "))
		}
	}
	return nil
}

// The least check interval and deregistration delay a Consul agent keeps
// (checks.MinInterval and the default check_deregister_interval_min).
const (
	consulMinCheckInterval   = time.Second
	consulMinDeregisterAfter = time.Minute
)

// DevJWTSecrets are the secrets the repository ships (config_test.toml's):
// anyone who read it can sign tokens with them.
var DevJWTSecrets = []string{"dev-only-secret-change-me-0123456789abcdef"}

// MinSecretBytes is the shortest auth.jwt_secret pro accepts (HS256 wants
// a key of at least its 256-bit output).
const MinSecretBytes = 32

// unsafeInPro names each setting production must not run with, one entry
// (key: reason) each.
func (c *Config) unsafeInPro() []string {
	var out []string
	if c.secretInFile {
		out = append(out, "auth.jwt_secret: is written in the config file; pro takes it only from "+EnvPrefix+"_AUTH_JWT_SECRET")
	}
	if reason := weakSecret(c.Auth.JWTSecret); reason != "" {
		out = append(out, "auth.jwt_secret: "+reason+" (set "+EnvPrefix+"_AUTH_JWT_SECRET to a random value, e.g. `openssl rand -base64 48`)")
	}
	for _, key := range c.passwordsInFile {
		out = append(out, key+": has a password written in the config file; pro takes credentials only from the environment ("+EnvName(key)+")")
	}
	if c.GRPC.Reflection {
		out = append(out, "grpc.reflection: must be false in pro (it lists every service and message to anyone who connects)")
	}
	if c.Admin.Pprof {
		out = append(out, "admin.pprof: must be false in pro (profiles expose memory contents and cost CPU)")
	}
	if reason := c.Audit.unsafeInPro(); reason != "" {
		out = append(out, reason)
	}
	if reason := c.auditKeyUnsafeInPro(); reason != "" {
		out = append(out, reason)
	}
	return append(out, c.webhooksUnsafeInPro()...)
}

// passwordsIn names the settings of c that hold a password: the MySQL
// DSN's, and the user information of the Elasticsearch and collector URLs.
func passwordsIn(c *Config) []string {
	var out []string
	if dsn, err := mysqldriver.ParseDSN(c.Database.DSN); err == nil && dsn.Passwd != "" {
		out = append(out, "database.dsn")
	}
	if slices.ContainsFunc(c.Search.URLs, hasPassword) {
		out = append(out, "search.urls")
	}
	if hasPassword(c.Tracing.CollectorURL) {
		out = append(out, "tracing.collector_url")
	}
	return out
}

// checkMySQLDSN refuses a MySQL DSN that does not parse, and the
// parameters under which the service would store or read other than it
// means: a character set or collation other than utf8mb4 (latin1 stores
// every non-ASCII string double-encoded, which only this connection reads
// back right; utf8 cannot store an emoji), a loc other than UTC (every time
// written and read is shifted by its offset from the rest of the fleet's),
// and parseTime=false (no time column can be read). Left out, each means
// what the service needs (parseTime is then set by the store).
func checkMySQLDSN(dsn string, bad func(key, format string, args ...any)) {
	c, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		bad("database.dsn", "is not a MySQL DSN such as user@tcp(127.0.0.1:3306)/mgvcore?charset=utf8mb4&parseTime=true&loc=UTC: %s", oneLine(err))
		return
	}
	const utf8mb4 = "must be utf8mb4 or left out: another character set stores text that other clients read garbled, or cannot store an emoji"
	// charset may be a list the driver tries in order, taking the first the
	// server has: every server the service runs on has utf8mb4, so a list
	// that starts with it means utf8mb4.
	if cs, ok := c.Params["charset"]; ok && strings.Split(cs, ",")[0] != "utf8mb4" {
		bad("database.dsn", "charset=%s: %s", cs, utf8mb4)
	}
	if c.Collation != "" && !strings.HasPrefix(c.Collation, "utf8mb4_") {
		bad("database.dsn", "collation=%s: must be a utf8mb4 collation (such as utf8mb4_general_ci) or left out", c.Collation)
	}
	for name, v := range c.Params {
		if strings.HasPrefix(name, "character_set_") || strings.HasPrefix(name, "collation_") {
			if v = strings.Trim(v, "'\"`"); !strings.HasPrefix(v, "utf8mb4") {
				bad("database.dsn", "%s=%s: %s", name, v, utf8mb4)
			}
		}
	}
	if !isUTC(c.Loc) {
		loc := c.Loc.String()
		if c.Loc == time.Local {
			loc = "Local (the host's time zone, " + zoneOf(c.Loc) + ")"
		}
		bad("database.dsn", "loc=%s: must be UTC or left out: the database holds UTC times, and another location shifts every time written and read by its offset", loc)
	}
	if !c.ParseTime && strings.Contains(dsn, "parseTime=") {
		bad("database.dsn", "parseTime=false: must be true or left out: the time columns are read as times")
	}
}

// isUTC tells whether loc is UTC in effect: an offset of zero that never
// changes (UTC, Etc/UTC, or Local on a host whose zone is UTC; Local is the
// host's zone now, and the start checks it on the host that serves).
func isUTC(loc *time.Location) bool {
	t := time.Now().In(loc)
	_, offset := t.Zone()
	start, end := t.ZoneBounds()
	return offset == 0 && start.IsZero() && end.IsZero()
}

// zoneOf names the zone loc is in now, as "CST, UTC+08:00".
func zoneOf(loc *time.Location) string {
	return time.Now().In(loc).Format("MST, UTC-07:00")
}

// hasPassword tells whether the URL u carries a password.
func hasPassword(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return false
	}
	_, ok := p.User.Password()
	return ok
}

// weakSecret says why secret must not sign production tokens, or "".
func weakSecret(secret string) string {
	for _, dev := range DevJWTSecrets {
		if secret == dev {
			return "is the development secret of config_test.toml"
		}
	}
	if len(secret) < MinSecretBytes {
		return fmt.Sprintf("must be at least %d bytes in pro (got %d)", MinSecretBytes, len(secret))
	}
	distinct := map[rune]bool{}
	for _, r := range secret {
		distinct[r] = true
	}
	if len(distinct) < minDistinct {
		return fmt.Sprintf("has only %d distinct characters; a random secret has many more", len(distinct))
	}
	return ""
}

// minDistinct is the fewest distinct characters a production secret may
// have: 32 × "a" or "abab…" are refused, while a random 32-character hex
// string has fewer than 6 distinct digits with a probability below 10⁻¹².
const minDistinct = 6

// validIndexName accepts the names Elasticsearch allows for an index or
// alias, restricted to a safe alphabet.
func validIndexName(s string) bool {
	if s == "" || len(s) > 200 || s[0] == '_' || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}
