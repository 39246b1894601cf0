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
	SetRetentionDays(ctx context.Context, tenantID int64, days int) error
	// DueRetention lists up to limit tenants with a retention whose last
	// run finished before before and whose lease ran out, with their days.
	DueRetention(ctx context.Context, before time.Time, limit int) (map[int64]int, error)
	// ClaimRetention leases a due tenant's run to owner; false when
	// another instance has it or it ran since before.
	ClaimRetention(ctx context.Context, tenantID int64, owner string, before time.Time, lease time.Duration) (bool, error)
	// ExpiredConversations lists up to limit of the tenant's
	// conversations that began before cutoff, by id.
	ExpiredConversations(ctx context.Context, tenantID int64, cutoff time.Time, limit int) ([]int64, error)
	// RenewRetention adds deleted to the run's count and renews owner's
	// lease; false when owner no longer holds it.
	RenewRetention(ctx context.Context, tenantID int64, owner string, deleted int, lease time.Duration) (bool, error)
	// FinishRetention records the end of owner's run.
	FinishRetention(ctx context.Context, tenantID int64, owner string) error
}

// Settings are a tenant's governance settings.
type Settings struct {
	// RetentionDays: conversations that began more days ago are deleted
	// by the daily run; 0 keeps them for ever.
	RetentionDays int
}

// TenantSettings reads and writes a tenant's settings (admins only).
type TenantSettings struct{ repo RetentionRepo }

// NewTenantSettings works through repo.
func NewTenantSettings(repo RetentionRepo) *TenantSettings { return &TenantSettings{repo: repo} }

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
func (t *TenantSettings) Put(ctx context.Context, in Settings) (Settings, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return Settings{}, err
	}
	if in.RetentionDays < 0 || in.RetentionDays > maxRetentionDays {
		return Settings{}, errs.InvalidArgument("retention_days", "must be 0 (keep for ever) to %d (got %d)", maxRetentionDays, in.RetentionDays)
	}
	if err := t.repo.SetRetentionDays(ctx, s.TenantID, in.RetentionDays); err != nil {
		return Settings{}, err
	}
	return in, nil
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
	o      RetainerOptions
	log    zerolog.Logger
	owner  string
	bg     *background
}

// NewRetainer makes a retainer.
func NewRetainer(repo RetentionRepo, purger Purger, o RetainerOptions, log zerolog.Logger) *Retainer {
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
	return &Retainer{repo: repo, purger: purger, o: o, log: log, owner: newOwner(), bg: newBackground()}
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
		if r.o.Audit != nil && (err == nil || ctx.Err() == nil) {
			result := audit.ResultOK
			if err != nil {
				result = errs.ReasonOf(err)
			}
			r.o.Audit.Record(ctx, audit.Record{TenantID: tenant, ActorKind: audit.ActorSystem, Operation: "retention.run",
				TargetType: "tenant", TargetID: strconv.FormatInt(tenant, 10), Result: result})
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// tenant deletes one tenant's expired conversations in batches.
func (r *Retainer) tenant(ctx context.Context, tenant int64, days int) (int, error) {
	cutoff := r.o.Now().UTC().AddDate(0, 0, -days)
	total := 0
	for {
		ids, err := r.repo.ExpiredConversations(ctx, tenant, cutoff, r.o.Batch)
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, r.repo.FinishRetention(ctx, tenant, r.owner)
		}
		n, err := r.purger.Purge(ctx, tenant, ids)
		if err != nil {
			return total, fmt.Errorf("deleting conversations: %w", err)
		}
		total += n
		ok, err := r.repo.RenewRetention(ctx, tenant, r.owner, n, r.o.Lease)
		if err != nil {
			return total, err
		}
		if !ok {
			return total, errLeaseLost
		}
	}
}
