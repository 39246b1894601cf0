package config

import (
	"fmt"
	"strings"
	"time"
)

// Audit configures the audit trail ([audit]).
type Audit struct {
	// Retention is how long records are kept; pro refuses less than
	// MinAuditRetention.
	Retention Duration `toml:"retention"`
	// TrimEvery paces the trim of records past the retention, in every
	// instance.
	TrimEvery Duration `toml:"trim_every"`
	// Queue bounds the records waiting in the process for their batch;
	// Batch bounds one append.
	Queue int `toml:"queue"`
	Batch int `toml:"batch"`
	// FlushInterval is the longest a record waits for its batch: what a
	// `kill -9` can lose.
	FlushInterval Duration `toml:"flush_interval"`
	// FullWait is how long a request waits for room in a full queue before
	// its record is given up (counted and logged).
	FullWait Duration `toml:"full_wait"`
	// ExtraOperations are operations audited beyond the built-in table
	// (reads a deployment wants on record), named as in [timeouts]; their
	// calls are recorded under the operation's name, anonymous ones too.
	ExtraOperations []string `toml:"extra_operations"`
	// ChainKey seals each chain's head and anchor (audit_heads.seal), so
	// that a chain rewritten in the database without it no longer
	// verifies; empty derives a key from auth.jwt_secret under its own
	// label (AuditChainKey). Pro takes it only from the environment.
	ChainKey string `toml:"chain_key"`
}

// MinAuditRetention is the shortest audit.retention pro accepts: the
// Cybersecurity Law keeps network logs at least six months.
const MinAuditRetention = 180 * 24 * time.Hour

func defaultAudit() Audit {
	return Audit{
		Retention: Duration{365 * 24 * time.Hour}, TrimEvery: Duration{time.Hour},
		Queue: 20000, Batch: 500, FlushInterval: Duration{100 * time.Millisecond}, FullWait: Duration{200 * time.Millisecond},
	}
}

// validate names the first bad [audit] key.
func (a Audit) validate(bad func(key, format string, args ...any)) {
	for _, d := range []struct {
		key string
		v   Duration
	}{{"audit.retention", a.Retention}, {"audit.trim_every", a.TrimEvery}, {"audit.flush_interval", a.FlushInterval}, {"audit.full_wait", a.FullWait}} {
		if d.v.Duration <= 0 {
			bad(d.key, "must be greater than 0 (got %s)", d.v)
		}
	}
	if a.Queue < 1 {
		bad("audit.queue", "must be at least 1 (got %d)", a.Queue)
	}
	if a.Batch < 1 || a.Batch > a.Queue {
		bad("audit.batch", "must be between 1 and audit.queue (got %d)", a.Batch)
	}
	for _, op := range a.ExtraOperations {
		if !strings.HasPrefix(op, "/mgv.") || len(op) > 64 {
			bad("audit.extra_operations", "must name operations such as /mgv.open.v1.ConversationService/GetConversation (got %q)", op)
		}
	}
}

// unsafeInPro says why the audit settings are refused in pro, or "".
func (a Audit) unsafeInPro() string {
	if a.Retention.Duration < MinAuditRetention {
		return fmt.Sprintf("audit.retention: must be at least %s (180 days) in pro (got %s)", MinAuditRetention, a.Retention)
	}
	return ""
}

// AuditChainKey is the key sealing the audit chains' ends: audit.chain_key,
// or one derived from auth.jwt_secret under its own label.
func (c *Config) AuditChainKey() string {
	if c.Audit.ChainKey != "" {
		return c.Audit.ChainKey
	}
	return "audit-chain:" + c.Auth.JWTSecret
}

// auditKeyUnsafeInPro says why audit.chain_key is refused in pro, or "".
func (c *Config) auditKeyUnsafeInPro() string {
	if c.auditKeyInFile {
		return "audit.chain_key: is written in the config file; pro takes it only from " + EnvPrefix + "_AUDIT_CHAIN_KEY"
	}
	if k := c.Audit.ChainKey; k != "" {
		if reason := weakSecret(k); reason != "" {
			return "audit.chain_key: " + reason
		}
	}
	return ""
}
