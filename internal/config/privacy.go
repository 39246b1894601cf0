package config

import "fmt"

// Privacy tunes personal-data erasure.
type Privacy struct {
	// ConfirmOver: an erasure that deletes more conversations than this
	// waits until an admin confirms the count; one that finds more to
	// delete than its count, once it has deleted that many, waits again
	// when the new count is over it. A retention change that makes more
	// conversations than this due is made only with their number
	// confirmed.
	ConfirmOver int64 `toml:"confirm_over"`
	// ConfirmWithin is how long a job waits for its confirmation: past
	// it, the job ends failed and its identifier is forgotten, so a
	// request nobody confirms does not keep a person's email or phone.
	ConfirmWithin Duration `toml:"confirm_within"`
	// ErasureBatch is the conversations an erasure deletes per transaction.
	ErasureBatch int `toml:"erasure_batch"`
	// ErasureLease is how long an instance holds an erasure job without
	// progress before another takes it over.
	ErasureLease Duration `toml:"erasure_lease"`
	// RetentionEvery is the time between two retention runs of a tenant
	// (a day); every instance looks for a tenant due every RetentionPoll.
	RetentionEvery Duration `toml:"retention_every"`
	RetentionPoll  Duration `toml:"retention_poll"`
}

// validate names the first bad key.
func (p Privacy) validate() error {
	switch {
	case p.ConfirmOver < 0:
		return badSetting("privacy.confirm_over", "must be >= 0 (got %d)", p.ConfirmOver)
	case p.ConfirmWithin.Duration < 1e9*60:
		return badSetting("privacy.confirm_within", "must be at least 1m (got %s)", p.ConfirmWithin.Duration)
	case p.ErasureBatch < 1 || p.ErasureBatch > 1000:
		return badSetting("privacy.erasure_batch", "must be 1..1000 (got %d)", p.ErasureBatch)
	case p.ErasureLease.Duration < 1e9:
		return badSetting("privacy.erasure_lease", "must be at least 1s (got %s)", p.ErasureLease.Duration)
	case p.RetentionEvery.Duration < 1e9 || p.RetentionPoll.Duration < 1e8:
		return fmt.Errorf("privacy.retention_every and retention_poll: at least 1s and 100ms (got %s, %s)", p.RetentionEvery.Duration, p.RetentionPoll.Duration)
	}
	return nil
}
