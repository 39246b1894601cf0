package audit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TrimOptions tune the Trimmer (config [audit]).
type TrimOptions struct {
	// Retention is how long a record is kept.
	Retention time.Duration
	// Every is the pause between rounds.
	Every time.Duration
	// Batch is how many records one transaction deletes at most, and
	// Batches how many batches a round deletes per tenant at most.
	Batch, Batches int
}

// Trimmer deletes records older than the retention, in every instance:
// each batch is one transaction holding the tenant's chain head, so
// instances trim one after the other and a trim never interleaves with an
// append. The anchor moves with each batch, so what remains verifies.
type Trimmer struct {
	trail Trail
	o     TrimOptions
	log   zerolog.Logger
	now   func() time.Time

	trimmed prometheus.Counter

	// ctx ends at Stop, and with it a round in progress.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewTrimmer trims trail.
func NewTrimmer(trail Trail, log zerolog.Logger, o TrimOptions) *Trimmer {
	if o.Every <= 0 {
		o.Every = time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Batches <= 0 {
		o.Batches = 100
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Trimmer{
		trail: trail, o: o, log: log, now: time.Now, ctx: ctx, cancel: cancel,
		trimmed: prometheus.NewCounter(prometheus.CounterOpts{Name: "mgv_audit_trimmed_total",
			Help: "Audit records deleted by this process after audit.retention."}),
	}
}

// RegisterMetrics adds the trimmer's metrics to reg.
func (t *Trimmer) RegisterMetrics(reg prometheus.Registerer) error { return reg.Register(t.trimmed) }

// Round trims every tenant once and returns how many records it deleted.
// A chain whose oldest records do not verify is not trimmed: its *Broken
// error is returned, with those of the other such chains (errors.Join),
// once every other tenant is trimmed.
func (t *Trimmer) Round(ctx context.Context) (int64, error) {
	before := t.now().Add(-t.o.Retention)
	tenants, err := t.trail.Tenants(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	var broken []error
	for _, tenant := range tenants {
		for range t.o.Batches {
			n, err := t.trail.Trim(ctx, tenant, before, t.o.Batch)
			total += n
			t.trimmed.Add(float64(n))
			var b *Broken
			if errors.As(err, &b) {
				broken = append(broken, err)
				break
			}
			if err != nil {
				return total, err
			}
			if n < int64(t.o.Batch) {
				break
			}
		}
		// The chain's ends, logged each round, are a copy outside the
		// database to compare audit verify's trusted ends with.
		ends, err := t.trail.Ends(ctx, tenant)
		if err != nil {
			return total, err
		}
		t.log.Info().Int64("tenant", tenant).Int64("head_seq", ends.Head.Seq).Str("head_hash", ends.Head.Hash).
			Int64("anchor_seq", ends.Anchor.Seq).Str("anchor_hash", ends.Anchor.Hash).Msg("audit: chain ends")
	}
	// And the register's (never trimmed): a chain deleted whole with its
	// registration, behind the register's earlier ends put back, shows as
	// a register head lower than this copy.
	ends, err := t.trail.Ends(ctx, RegisterTenant)
	if err != nil {
		return total, err
	}
	if ends.Found {
		t.log.Info().Int64("tenant", RegisterTenant).Int64("head_seq", ends.Head.Seq).Str("head_hash", ends.Head.Hash).
			Msg("audit: register of chains ends")
	}
	return total, errors.Join(broken...)
}

// Start runs a round at once and then every Every until Stop.
func (t *Trimmer) Start() {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(t.o.Every)
		defer tick.Stop()
		for {
			n, err := t.Round(t.ctx)
			var broken *Broken
			if errors.As(err, &broken) {
				t.log.Error().Err(err).Msg("audit: a chain's oldest records do not verify, so they are not trimmed: run `mgvcore audit verify`")
			} else if err != nil && t.ctx.Err() == nil {
				t.log.Warn().Err(err).Msg("audit: trimming past the retention failed; trying again next round")
			}
			if n > 0 {
				t.log.Info().Int64("records", n).Dur("retention", t.o.Retention).Msg("audit: trimmed records past the retention")
			}
			select {
			case <-t.ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// Stop ends the trimming, cancelling a batch in progress (its transaction
// rolls back).
func (t *Trimmer) Stop() {
	t.cancel()
	t.wg.Wait()
}
