package config

import (
	"time"

	"github.com/megaview/mgvcore/global"
)

// Webhooks configures the delivery of events to partners' receivers.
type Webhooks struct {
	// Enabled runs the deliverer in this process (every instance may).
	Enabled bool `toml:"enabled"`
	// SecretKey encrypts the subscriptions' signing secrets at rest; pro
	// takes it only from MGV_WEBHOOKS_SECRET_KEY. Empty derives the key
	// from auth.jwt_secret (see WebhookKey): set it, so the JWT secret can
	// be rotated without losing the subscriptions' secrets.
	SecretKey string `toml:"secret_key"`
	// AllowLoopback lets receivers on loopback addresses (and plain http
	// to them) through: development and tests only, pro refuses it.
	AllowLoopback bool `toml:"allow_loopback"`
	// ConnectTimeout, HeaderTimeout and RequestTimeout bound a delivery's
	// connect (and TLS handshake), its wait for the answer's headers, and
	// the whole request.
	ConnectTimeout Duration `toml:"connect_timeout"`
	HeaderTimeout  Duration `toml:"header_timeout"`
	RequestTimeout Duration `toml:"request_timeout"`
	// Workers subscriptions are delivered to at once by this instance
	// (three quarters of them shared among the tenants with work, at
	// least one each; the last quarter one each to tenants holding none);
	// InFlight requests are open at once per subscription; Batch events a
	// delivery round reads.
	Workers  int `toml:"workers"`
	InFlight int `toml:"in_flight"`
	Batch    int `toml:"batch"`
	// PollInterval: how often the deliverer looks for work (it is also
	// woken by events written in this process); Lease: how long a claimed
	// subscription stays with this instance without renewal; Slice: how
	// long it is served before it is handed back.
	PollInterval Duration `toml:"poll_interval"`
	Lease        Duration `toml:"lease"`
	Slice        Duration `toml:"slice"`
	// RetryBase doubles per failed attempt up to RetryMax (with jitter),
	// for RetryWindow after the first failure; then the subscription is
	// disabled. Tests compress the 24 hours.
	RetryBase   Duration `toml:"retry_base"`
	RetryMax    Duration `toml:"retry_max"`
	RetryWindow Duration `toml:"retry_window"`
	// Keep is how long the delivery log is kept.
	Keep Duration `toml:"keep"`
	// MaxSubscriptionsPerApp is how many subscriptions one app may have;
	// creating one more is refused (SUBSCRIPTION_QUOTA_EXCEEDED).
	MaxSubscriptionsPerApp int `toml:"max_subscriptions_per_app"`
	// MaxPendingRedeliveries is how many redeliveries one subscription
	// may have pending; asking for one more is refused
	// (REDELIVERY_QUOTA_EXCEEDED).
	MaxPendingRedeliveries int `toml:"max_pending_redeliveries"`
}

func defaultWebhooks() Webhooks {
	return Webhooks{
		Enabled:        true,
		ConnectTimeout: Duration{5 * time.Second}, HeaderTimeout: Duration{10 * time.Second}, RequestTimeout: Duration{15 * time.Second},
		Workers: 32, InFlight: 8, Batch: 100,
		PollInterval: Duration{250 * time.Millisecond}, Lease: Duration{time.Minute}, Slice: Duration{10 * time.Second},
		RetryBase: Duration{10 * time.Second}, RetryMax: Duration{time.Hour}, RetryWindow: Duration{24 * time.Hour},
		Keep: Duration{7 * 24 * time.Hour}, MaxSubscriptionsPerApp: 20, MaxPendingRedeliveries: 1000,
	}
}

func (c *Config) validateWebhooks(bad func(key, format string, args ...any)) {
	w := c.Webhooks
	for key, d := range map[string]Duration{
		"webhooks.connect_timeout": w.ConnectTimeout, "webhooks.header_timeout": w.HeaderTimeout,
		"webhooks.request_timeout": w.RequestTimeout, "webhooks.poll_interval": w.PollInterval,
		"webhooks.lease": w.Lease, "webhooks.slice": w.Slice, "webhooks.retry_base": w.RetryBase,
		"webhooks.retry_max": w.RetryMax, "webhooks.retry_window": w.RetryWindow, "webhooks.keep": w.Keep,
	} {
		if d.Duration <= 0 {
			bad(key, "must be a positive duration (got %s)", d.Duration)
		}
	}
	if w.Workers < 1 || w.Workers > 1024 {
		bad("webhooks.workers", "must be 1..1024 (got %d)", w.Workers)
	}
	if w.InFlight < 1 || w.InFlight > 64 {
		bad("webhooks.in_flight", "must be 1..64 (got %d)", w.InFlight)
	}
	if w.Batch < w.InFlight || w.Batch > 1000 {
		bad("webhooks.batch", "must be webhooks.in_flight..1000 (got %d)", w.Batch)
	}
	if w.RequestTimeout.Duration > 0 && w.Lease.Duration < 3*w.RequestTimeout.Duration {
		bad("webhooks.lease", "must be at least three times webhooks.request_timeout (%s), or a subscription still delivering would be claimed again (got %s)",
			w.RequestTimeout.Duration, w.Lease.Duration)
	}
	if w.MaxSubscriptionsPerApp < 1 || w.MaxSubscriptionsPerApp > 10000 {
		bad("webhooks.max_subscriptions_per_app", "must be 1..10000 (got %d)", w.MaxSubscriptionsPerApp)
	}
	if w.MaxPendingRedeliveries < 1 || w.MaxPendingRedeliveries > 100000 {
		bad("webhooks.max_pending_redeliveries", "must be 1..100000 (got %d)", w.MaxPendingRedeliveries)
	}
	if w.RetryMax.Duration < w.RetryBase.Duration {
		bad("webhooks.retry_max", "must be at least webhooks.retry_base (got %s)", w.RetryMax.Duration)
	}
	// A receiver's Retry-After is clamped to retry_max: below the events'
	// retention, it never pushes a delivery past the event it sends.
	if r := c.Events.Retention.Duration; r > 0 && w.RetryMax.Duration >= r {
		bad("webhooks.retry_max", "must be less than events.retention (%s), or a retry could come after its event is trimmed (got %s)", r, w.RetryMax.Duration)
	}
	// A subscription is retried for the retry window from its first
	// failure, on events that occurred before it: a retention not longer
	// than the window trims them while it is still retried, and disables it
	// for expired events before its window is out.
	if r := c.Events.Retention.Duration; r > 0 && w.RetryWindow.Duration >= r {
		bad("webhooks.retry_window", "must be less than events.retention (%s), or a failing subscription loses its events to the retention before its retries end (got %s)", r, w.RetryWindow.Duration)
	}
}

// webhooksUnsafeInPro lists the webhook settings production refuses.
func (c *Config) webhooksUnsafeInPro() []string {
	var out []string
	if c.webhookKeyInFile {
		out = append(out, "webhooks.secret_key: is written in the config file; pro takes it only from "+EnvPrefix+"_WEBHOOKS_SECRET_KEY")
	}
	if k := c.Webhooks.SecretKey; k != "" {
		if reason := weakSecret(k); reason != "" {
			out = append(out, "webhooks.secret_key: "+reason)
		}
	}
	if c.Webhooks.AllowLoopback {
		out = append(out, "webhooks.allow_loopback: must be false in pro (receivers must be public https addresses)")
	}
	return out
}

// RequireHTTPS: production receivers are https only.
func (c *Config) RequireHTTPS() bool { return c.App.Env == global.EnvPro }

// WebhookKey is the key sealing webhook secrets: webhooks.secret_key, or
// one derived from auth.jwt_secret under its own label.
func (c *Config) WebhookKey() string {
	if c.Webhooks.SecretKey != "" {
		return c.Webhooks.SecretKey
	}
	return "webhooks:" + c.Auth.JWTSecret
}
