package privacy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/audit"
)

// maxRetentionDays bounds retention_days (100 years).
const maxRetentionDays = 36500

// RetentionRepo stores the retention setting of each tenant and its daily
// runs (dao.Retention).
type RetentionRepo interface {
	RetentionDays(ctx context.Context, tenantID int64) (int, error)
	// HoldRetentionDays reads the setting and holds it until the
	// transaction of ctx ends: a SetRetentionDays meanwhile waits for it.
	HoldRetentionDays(ctx context.Context, tenantID int64) (int, error)
	// SetRetentionDays writes the setting if it is still from (CONFLICT
	// otherwise).
	SetRetentionDays(ctx context.Context, tenantID int64, from, days int) error
	// DueRetention lists up to limit tenants with a retention whose last
	// run finished before before and whose lease ran out, with their days.
	DueRetention(ctx context.Context, before time.Time, limit int) (map[int64]int, error)
	// ClaimRetention leases a due tenant's run to owner; false when
	// another instance has it or it ran since before.
	ClaimRetention(ctx context.Context, tenantID int64, owner string, before time.Time, lease time.Duration) (bool, error)
	// ExpiredConversations lists up to limit of the tenant's
	// conversations that began before cutoff, by id.
	ExpiredConversations(ctx context.Context, tenantID int64, cutoff time.Time, limit int) ([]int64, error)
	// CountExpired counts the tenant's conversations that began before
	// cutoff.
	CountExpired(ctx context.Context, tenantID int64, cutoff time.Time) (int64, error)
	// RenewRetention adds deleted to the run's count and renews owner's
	// lease; false when owner no longer holds it.
	RenewRetention(ctx context.Context, tenantID int64, owner string, deleted int, lease time.Duration) (bool, error)
	// FinishRetention records the end of owner's run by a retention of
	// days; the run counts as the tenant's last only if days is still its
	// setting.
	FinishRetention(ctx context.Context, tenantID int64, owner string, days int) error
}

// Settings are a tenant's governance settings.
type Settings struct {
	// RetentionDays: conversations that began more days ago are deleted
	// by the daily run; 0 keeps them for ever.
	RetentionDays int
}

// SettingsChange is a change of a tenant's settings.
type SettingsChange struct {
	Settings
	// ConfirmDeletions confirms that a shortened retention deletes that
	// many conversations (see TenantSettings.Put); 0 confirms none.
	ConfirmDeletions int64
}

// TenantSettings reads and writes a tenant's settings (admins only).
type TenantSettings struct {
	repo        RetentionRepo
	confirmOver int64
	now         func() time.Time
}

// NewTenantSettings works through repo. A change of retention that makes
// more than confirmOver conversations due must confirm their number, as
// an erasure over privacy.confirm_over must.
func NewTenantSettings(repo RetentionRepo, confirmOver int64) *TenantSettings {
	return &TenantSettings{repo: repo, confirmOver: confirmOver, now: time.Now}
}

// Get returns the caller's tenant's settings.
func (t *TenantSettings) Get(ctx context.Context) (Settings, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return Settings{}, err
	}
	days, err := t.repo.RetentionDays(ctx, s.TenantID)
	return Settings{RetentionDays: days}, err
}

// Put writes the caller's tenant's settings.
//
// A retention that is turned on or shortened takes effect at the next
// poll, so a slip of the keyboard (1 for 100 days) would delete most of a
// tenant's conversations within a minute. When the new retention makes
// more than privacy.confirm_over conversations due, Put changes nothing
// and answers RETENTION_CONFIRMATION_REQUIRED with their number
// (metadata conversations_due); the admin confirms it by sending the
// change again with ConfirmDeletions at least that number. Lengthening
// the retention, or turning it off, deletes nothing and needs no
// confirmation.
func (t *TenantSettings) Put(ctx context.Context, in SettingsChange) (Settings, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return Settings{}, err
	}
	days := in.RetentionDays
	if days < 0 || days > maxRetentionDays {
		return Settings{}, errs.InvalidArgument("retention_days", "must be 0 (keep for ever) to %d (got %d)", maxRetentionDays, days)
	}
	if in.ConfirmDeletions < 0 {
		return Settings{}, errs.InvalidArgument("confirm_deletions", "must be 0 or more (got %d)", in.ConfirmDeletions)
	}
	old, err := t.repo.RetentionDays(ctx, s.TenantID)
	if err != nil {
		return Settings{}, err
	}
	if days > 0 && (old == 0 || days < old) {
		cutoff := RetentionCutoff(t.now(), days)
		due, err := t.repo.CountExpired(ctx, s.TenantID, cutoff)
		if err != nil {
			return Settings{}, err
		}
		if due > t.confirmOver && in.ConfirmDeletions < due {
			n := strconv.FormatInt(due, 10)
			return Settings{}, errs.Of(errs.ReasonRetentionConfirmationRequired,
				"retention_days %d deletes the %s conversations that began before %s at the next run, more than privacy.confirm_over (%d): send the change again with confirm_deletions %s",
				days, n, cutoff.Format(time.RFC3339), t.confirmOver, n).With("conversations_due", n)
		}
	}
	// Written only over the setting read: the confirmation was judged
	// against it.
	if err := t.repo.SetRetentionDays(ctx, s.TenantID, old, days); err != nil {
		return Settings{}, err
	}
	return in.Settings, nil
}

// RetentionCutoff is the start time before which a conversation is past a
// retention of days at now.
func RetentionCutoff(now time.Time, days int) time.Time {
	return now.UTC().AddDate(0, 0, -days)
}

// RetainerOptions tune the retention runs.
type RetainerOptions struct {
	// Every is the time between two runs of one tenant (a day).
	Every time.Duration
	// Poll is how often an instance looks for a tenant due.
	Poll time.Duration
	// Batch is the conversations deleted per transaction; Lease how long
	// a run is held without progress.
	Batch int
	Lease time.Duration
	// Audit takes a record of each run's end (nil: none).
	Audit audit.Recorder
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Retainer runs in every instance: it claims each tenant's daily run with
// a lease, so that one instance runs it, and deletes the conversations
// older than the tenant's retention_days in bounded batches, as a delete
// by an admin would (conversation.deleted events, the index following).
type Retainer struct {
	repo   RetentionRepo
	purger Purger
	tx     Transactor
	o      RetainerOptions
	log    zerolog.Logger
	owner  string
	bg     *background
}

// NewRetainer makes a retainer; tx runs each batch's deletion in one
// transaction with the hold of the setting it deletes by.
func NewRetainer(repo RetentionRepo, purger Purger, tx Transactor, o RetainerOptions, log zerolog.Logger) *Retainer {
	if o.Every <= 0 {
		o.Every = 24 * time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = time.Minute
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Retainer{repo: repo, purger: purger, tx: tx, o: o, log: log, owner: newOwner(), bg: newBackground()}
}

// Start runs the retainer in the background until Stop.
func (r *Retainer) Start() { r.bg.start(r.run) }

// Stop ends the retainer; a run cut short is taken over after its lease.
func (r *Retainer) Stop() { r.bg.halt() }

func (r *Retainer) run(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(r.o.Poll)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn().Err(err).Msg("retention: a run failed; it is retried after its lease")
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// RunOnce runs the retention of every tenant due that no other instance
// holds, and returns how many conversations it deleted.
func (r *Retainer) RunOnce(ctx context.Context) (int, error) {
	before := r.o.Now().Add(-r.o.Every)
	due, err := r.repo.DueRetention(ctx, before, 100)
	if err != nil {
		return 0, err
	}
	total := 0
	for tenant, days := range due {
		ok, err := r.repo.ClaimRetention(ctx, tenant, r.owner, before, r.o.Lease)
		if err != nil {
			return total, err
		}
		if !ok {
			continue
		}
		n, err := r.tenant(ctx, tenant, days)
		total += n
		if err == nil || ctx.Err() == nil {
			result := audit.ResultOK
			if err != nil {
				result = errs.ReasonOf(err)
			}
			r.record(ctx, tenant, "retention.run", "tenant", strconv.FormatInt(tenant, 10), result)
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// record takes an audit record of the system's retention, if audited.
func (r *Retainer) record(ctx context.Context, tenant int64, op, targetType, targetID, result string) {
	if r.o.Audit != nil {
		r.o.Audit.Record(ctx, audit.Record{TenantID: tenant, ActorKind: audit.ActorSystem, Operation: op,
			TargetType: targetType, TargetID: targetID, Result: result})
	}
}

// tenant deletes one tenant's expired conversations in batches.
func (r *Retainer) tenant(ctx context.Context, tenant int64, days int) (int, error) {
	cutoff := RetentionCutoff(r.o.Now(), days)
	total := 0
	for {
		ids, err := r.repo.ExpiredConversations(ctx, tenant, cutoff, r.o.Batch)
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, r.repo.FinishRetention(ctx, tenant, r.owner, days)
		}
		// An admin may lengthen the retention, or turn it off, while the
		// run deletes: each batch is deleted in a transaction that holds
		// the setting, and only while it is the one the run read. A change
		// made before the hold stops the run without the batch; one made
		// after waits for the batch to commit. A run whose setting changed
		// ends without counting as the tenant's run, which is then due by
		// the new one.
		var gone []int64
		changed := false
		err = r.tx.InTx(ctx, func(ctx context.Context) error {
			cur, err := r.repo.HoldRetentionDays(ctx, tenant)
			if err != nil || cur != days {
				changed = true
				return err
			}
			gone, err = r.purger.Purge(ctx, tenant, ids)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("deleting conversations: %w", err)
		}
		if changed {
			return total, r.repo.FinishRetention(ctx, tenant, r.owner, days)
		}
		// Each conversation retention deletes leaves its record, as a
		// delete by an admin does: the run's record alone would not say
		// which went.
		for _, id := range gone {
			r.record(ctx, tenant, "retention.delete", "conversation", strconv.FormatInt(id, 10), audit.ResultOK)
		}
		n := len(gone)
		total += n
		if err := held(r.repo.RenewRetention(ctx, tenant, r.owner, n, r.o.Lease)); err != nil {
			return total, err
		}
	}
}
