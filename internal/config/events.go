package config

import (
	"time"
)

// Events configures the partner event log (PRODUCT §7).
type Events struct {
	// Retention is how long events are kept; a stream or page cursor
	// older than that is refused (EVENT_CURSOR_EXPIRED).
	Retention Duration `toml:"retention"`
	// TrimInterval is how often each instance deletes expired events.
	TrimInterval Duration `toml:"trim_interval"`
	// Poll is how often open streams look for events written by other
	// instances; this instance's own wake them at once.
	Poll Duration `toml:"poll"`
	// MaxStreamsPerApp, MaxStreamsPerTenant and MaxStreams cap concurrent
	// StreamEvents calls per app (or user), per tenant (all its apps and
	// users: a tenant with many apps cannot take every stream) and in all.
	MaxStreamsPerApp    int `toml:"max_streams_per_app"`
	MaxStreamsPerTenant int `toml:"max_streams_per_tenant"`
	MaxStreams          int `toml:"max_streams"`
	// SendTimeout is how long a stream waits for its client to take an
	// event: a client that stops reading ends its stream (UNAVAILABLE),
	// giving back its slot, and resumes from the last id it received.
	SendTimeout Duration `toml:"send_timeout"`
}

func defaultEvents() Events {
	return Events{
		Retention:           Duration{7 * 24 * time.Hour},
		TrimInterval:        Duration{time.Minute},
		Poll:                Duration{500 * time.Millisecond},
		MaxStreamsPerApp:    4,
		MaxStreamsPerTenant: 32,
		MaxStreams:          256,
		SendTimeout:         Duration{30 * time.Second},
	}
}

func (e Events) validate() []error {
	var out []error
	bad := func(key, format string, args ...any) {
		out = append(out, badSetting(key, format, args...))
	}
	if e.Retention.Duration < time.Minute {
		bad("events.retention", "must be at least 1m (got %s)", e.Retention.Duration)
	}
	if e.TrimInterval.Duration <= 0 {
		bad("events.trim_interval", "must be a positive duration (got %s)", e.TrimInterval.Duration)
	}
	if p := e.Poll.Duration; p < 10*time.Millisecond || p > time.Minute {
		bad("events.poll", "must be between 10ms and 1m (got %s)", p)
	}
	// A tenant's cap above the total, or an app's above its tenant's,
	// leaves the lower one to bind.
	switch {
	case e.MaxStreamsPerApp <= 0 || e.MaxStreamsPerTenant <= 0 || e.MaxStreams <= 0:
		bad("events.max_streams", "events.max_streams, events.max_streams_per_tenant and events.max_streams_per_app must be greater than 0 (got %d, %d and %d)",
			e.MaxStreams, e.MaxStreamsPerTenant, e.MaxStreamsPerApp)
	case e.MaxStreamsPerApp > e.MaxStreams:
		bad("events.max_streams_per_app", "must be at most events.max_streams (%d; got %d)", e.MaxStreams, e.MaxStreamsPerApp)
	}
	if d := e.SendTimeout.Duration; d < time.Second || d > time.Hour {
		bad("events.send_timeout", "must be between 1s and 1h (got %s)", d)
	}
	return out
}
