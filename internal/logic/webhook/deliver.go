package webhook

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/batch"
	"github.com/megaview/mgvcore/internal/clip"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// DeliveryStore is the deliverer's side of the store. A subscription is
// delivered by one instance at a time: the one holding its lease, taken by
// a guarded update, so instances share the subscriptions without sending
// twice in the normal case; a lease left by a killed process expires and
// another instance (or the restarted one) resumes from the cursor, sending
// again at most what was in flight (at least once).
type DeliveryStore interface {
	// Candidates lists up to limit active subscriptions not leased that
	// may have work, longest waiting first: due, or with a redelivery due
	// (those ids are in redeliveries, up to limit more); none of the
	// tenants in skipTenants.
	Candidates(ctx context.Context, limit int, skipTenants []int64) (subs []model.WebhookSubscription, redeliveries map[int64]bool, err error)
	// Claim leases a subscription to owner; nil when another holds it or
	// it is not due.
	Claim(ctx context.Context, id int64, owner string, lease time.Duration) (*model.WebhookSubscription, error)
	// Renew extends owner's lease; Conflict when it was lost, the
	// subscription was deleted or disabled, its signing secret is no
	// longer secret (sealed: it was rotated), or its app was disabled,
	// deleted or lost the read scope (a round then stops).
	Renew(ctx context.Context, id int64, owner, secret string, lease time.Duration) error
	// Release ends owner's lease.
	Release(ctx context.Context, id int64, owner string) error
	// DueRedeliveries lists a subscription's pending redeliveries due now.
	DueRedeliveries(ctx context.Context, subscriptionID int64, limit int) ([]model.WebhookDelivery, error)
	// Attempted lists the in-order deliveries (not redeliveries) of these
	// events to the subscription.
	Attempted(ctx context.Context, subscriptionID int64, eventIDs []int64) ([]model.WebhookDelivery, error)
	// Record writes the subscription's progress (cursor, failure state,
	// status) and the deliveries of a round (ID 0: new) in one
	// transaction, if owner still holds the lease (Conflict otherwise).
	// The failure state and status are written only if they are still as
	// in read, the subscription as the round read it: an admin's enable
	// or disable made meanwhile stays, and sub takes the state as stored.
	// A subscription this write disables has its pending deliveries
	// failed.
	Record(ctx context.Context, owner string, read model.WebhookSubscription, sub *model.WebhookSubscription, rows []model.WebhookDelivery) error
	// Trim deletes up to limit deliveries created before before.
	Trim(ctx context.Context, before time.Time, limit int) (int64, error)
	// ClearReasons cuts the receivers' answers that earlier versions
	// kept after the status in the reasons of disabled subscriptions
	// down to the status.
	ClearReasons(ctx context.Context) error
	// FillRedeliverAt sets the subscriptions' earliest pending
	// redelivery (RedeliverAt) where it is not set: redeliveries asked
	// for before the store kept it.
	FillRedeliverAt(ctx context.Context) error
}

// Result is a receiver's answer; Status 0 when none came. RetryAfter is
// the wait its Retry-After header asked for, when HasRetryAfter (a valid,
// non-negative value).
type Result struct {
	Status        int
	Latency       time.Duration
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// asksToWait reports the wait a failed answer asks for: a 429 or 503 with
// a valid Retry-After.
func (r Result) asksToWait() (time.Duration, bool) {
	if (r.Status == 429 || r.Status == 503) && r.HasRetryAfter {
		return r.RetryAfter, true
	}
	return 0, false
}

// backoff is the wait before attempt n+1 after n consecutive failures, the
// last answer being res: what the receiver asked for (Retry-After, within
// the schedule's bounds), or else the exponential backoff.
func (d *Deliverer) backoff(n int, res Result) time.Duration {
	if wait, ok := res.asksToWait(); ok {
		return d.o.Retry.Asked(wait)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.o.Retry.Delay(n, d.rnd)
}

// Sender posts a delivery to a receiver: an error is no answer (refused
// address, connect failure, timeout).
type Sender interface {
	Post(ctx context.Context, url string, headers map[string]string, body []byte) (Result, error)
}

// DeliverOptions tune the deliverer.
type DeliverOptions struct {
	// Owner names this instance in leases.
	Owner string
	// Workers is how many subscriptions this instance delivers to at
	// once (one tenant's at most TenantWorkers of them, see mayTake);
	// InFlight how many requests one subscription has open at once (the
	// pace a receiver sees from one instance); Batch how many events a
	// round reads.
	Workers  int
	InFlight int
	Batch    int
	// Poll is the wait between looks for work; Lease how long a claimed
	// subscription stays with this instance without renewal (more than
	// two request timeouts); Slice how long one subscription is served
	// before its lease is handed back for others to take.
	Poll  time.Duration
	Lease time.Duration
	Slice time.Duration
	// RequestTimeout is the longest an attempt takes (the sender's total
	// timeout): a round starts no attempt that could end after its lease.
	RequestTimeout time.Duration
	Retry          Retry
	// Keep is how long the delivery log is kept.
	Keep time.Duration
	Log  zerolog.Logger
}

// Deliverer pushes events to subscriptions in the background.
type Deliverer struct {
	store  DeliveryStore
	events EventLog
	send   Sender
	sealer *Sealer
	o      DeliverOptions

	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// running: the subscriptions served, by id; busy: how many of them
	// each tenant has.
	running map[int64]bool
	busy    map[int64]int
	rnd     *rand.Rand

	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
	disabled prometheus.Counter
}

// NewDeliverer builds a deliverer; Start runs it.
func NewDeliverer(store DeliveryStore, events EventLog, send Sender, sealer *Sealer, o DeliverOptions) *Deliverer {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.InFlight < 1 {
		o.InFlight = 1
	}
	if o.Batch < o.InFlight {
		o.Batch = o.InFlight
	}
	if o.Retry == (Retry{}) {
		o.Retry = DefaultRetry
	}
	return &Deliverer{
		store: store, events: events, send: send, sealer: sealer, o: o,
		wake: make(chan struct{}, 1), running: map[int64]bool{}, busy: map[int64]int{},
		rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mgv_webhook_attempts_total", Help: "Webhook delivery attempts by this instance, by result (delivered, failed).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mgv_webhook_attempt_duration_seconds", Help: "Duration of webhook delivery attempts.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mgv_webhook_subscriptions_disabled_total", Help: "Subscriptions disabled by the deliverer: failing for the whole retry window, or passed by the event log's retention.",
		}),
	}
}

// RegisterMetrics registers the delivery metrics on reg.
func (d *Deliverer) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{d.attempts, d.latency, d.disabled} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("webhook metrics: %w", err)
		}
	}
	return nil
}

// Wake makes the deliverer look for work now (an event committed, a
// redelivery asked for).
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// TenantWorkers is how many of workers one tenant's subscriptions may hold
// at once while tenants tenants have work or hold workers: three quarters
// shared among them (at least one each), so the rest stays free for the
// other tenants however slow the first ones' receivers are, and two slow
// tenants hold together what one would alone.
func TenantWorkers(workers, tenants int) int {
	return max(1, workers*3/4/max(1, tenants))
}

// candidateWindow is how many subscriptions a look for work reads.
const candidateWindow = 500

// mayTake says whether a tenant holding busy workers may take one more
// when free are free and its share is share (TenantWorkers): under its
// share, and, once it holds one, only while more than a quarter of the
// workers stays free. That quarter goes one worker each to tenants
// holding none, so a tenant with work always finds one free, whichever
// tenants came first. Called with d.mu held.
func (d *Deliverer) mayTake(busy, free, share int) bool {
	return busy < share && (busy == 0 || free > d.o.Workers-TenantWorkers(d.o.Workers, 1))
}

// Start runs the deliverer until Stop.
func (d *Deliverer) Start(ctx context.Context) {
	ctx, d.cancel = context.WithCancel(ctx)
	d.wg.Add(1)
	go d.loop(ctx)
	d.wg.Add(1)
	go d.upkeep(ctx)
}

// The delivery log is trimmed every trimEvery, trimBatch rows per
// transaction with trimPause between two, until a batch comes back short:
// the log gets a row per event and subscription, and redeliveries to a
// fast receiver can add more than a batch a minute, which one batch a
// minute would leave to grow without bound.
const (
	// fillFor is how long after its start an instance fills, every
	// trimEvery, the earliest pending redelivery of subscriptions that
	// have none set: the time a rolling upgrade takes, during which
	// instances of the version before add redeliveries without it.
	fillFor   = time.Hour
	trimBatch = 1000
	trimPause = 50 * time.Millisecond
)

// trimEvery is how often upkeep runs (a variable for tests).
var trimEvery = time.Minute

// upkeep cuts the answers earlier versions kept in reasons, then fills
// the earliest pending redelivery of subscriptions that have none set (at
// the start and every trimEvery for fillFor) and trims the delivery log
// (older than Keep) now and every trimEvery, until ctx ends. It runs
// beside the loop, so a long backlog holds up no delivery.
func (d *Deliverer) upkeep(ctx context.Context) {
	defer d.wg.Done()
	d.clearReasons(ctx)
	start := time.Now()
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	for {
		if time.Since(start) < fillFor {
			// Instances of the version before, still serving in a rolling
			// upgrade, add redeliveries without setting the time.
			if err := d.store.FillRedeliverAt(ctx); err != nil && ctx.Err() == nil {
				d.o.Log.Warn().Err(err).Msg("webhooks: setting the subscriptions' earliest pending redelivery failed; it is tried again in a minute")
			}
		}
		if d.o.Keep > 0 {
			d.trim(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// trim deletes the delivery log older than Keep, in batches.
func (d *Deliverer) trim(ctx context.Context) {
	before := time.Now().Add(-d.o.Keep)
	n, err := batch.Drain(ctx, trimBatch, trimPause, func(ctx context.Context) (int, error) {
		n, err := d.store.Trim(ctx, before, trimBatch)
		return int(n), err
	})
	switch {
	case err != nil && ctx.Err() == nil:
		d.o.Log.Warn().Err(err).Int("deleted", n).Msg("webhooks: trimming the delivery log failed")
	case n > 0:
		d.o.Log.Info().Int("deleted", n).Msg("webhooks: delivery log trimmed")
	}
}

// clearReasons cuts the receivers' answers that earlier versions kept in
// the reasons of disabled subscriptions down to their status, at every
// start: an answer often quotes what the receiver refused (a phone number,
// an origin id), personal data that the app and the admins read and that
// no erasure finds in every form. The subscriptions are a short table; the
// delivery log is read up to the status instead, and its rows cut by an
// erasure or trimmed with the log.
func (d *Deliverer) clearReasons(ctx context.Context) {
	if err := d.store.ClearReasons(ctx); err != nil && ctx.Err() == nil {
		d.o.Log.Warn().Err(err).Msg("webhooks: cutting the receivers' answers kept by earlier versions in disabling reasons failed; the next start tries again")
	}
}

// Stop ends the deliveries: no attempt starts once it is called; each
// subscription finishes the requests in flight (bounded by the request
// timeout), records them and hands its lease back (each write bounded by
// storeWithin), so the next owner goes on after what the receivers
// acknowledged instead of sending it again. It returns within the request
// timeout and twice storeWithin.
func (d *Deliverer) Stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
}

func (d *Deliverer) loop(ctx context.Context) {
	defer d.wg.Done()
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for {
		if err := d.dispatch(ctx); err != nil && ctx.Err() == nil {
			d.o.Log.Warn().Err(err).Msg("webhooks: looking for work failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// dispatch claims the subscriptions with work, up to the free workers,
// and serves each in its own goroutine, so a slow receiver holds back only
// its own subscription. The tenants take turns (each tenant's longest
// waiting first) and none takes a worker mayTake refuses it, so one
// tenant's slow receivers never keep another tenant's subscriptions
// waiting for a worker. The tenants that may take no worker are left out
// of the look for work, so their waiting subscriptions, however many,
// never push another tenant's out of the candidates read; one that
// reaches its share during a look whose candidates filled the window has
// the look made again without it.
func (d *Deliverer) dispatch(ctx context.Context) error {
	var full []int64
	for {
		d.mu.Lock()
		free := d.o.Workers - len(d.running)
		// Every tenant with work holds workers or is among the candidates:
		// the share is at most this one.
		share := TenantWorkers(d.o.Workers, len(d.busy))
		for t, n := range d.busy {
			if !d.mayTake(n, free, share) && !slices.Contains(full, t) {
				full = append(full, t)
			}
		}
		d.mu.Unlock()
		if free <= 0 {
			return nil
		}
		subs, redo, err := d.store.Candidates(ctx, candidateWindow, full)
		if err != nil || len(subs) == 0 {
			return err
		}
		refused, err := d.claim(ctx, subs, redo, free)
		if err != nil || len(subs) < candidateWindow {
			return err
		}
		n := len(full)
		for _, t := range refused {
			if !slices.Contains(full, t) {
				full = append(full, t)
			}
		}
		if len(full) == n {
			return nil
		}
	}
}

// claim claims and serves the candidates with work, the tenants in turn,
// up to free of them. refused are the tenants mayTake refused a worker
// while workers stayed free: the other tenants' candidates may lie beyond
// the window, behind theirs.
func (d *Deliverer) claim(ctx context.Context, subs []model.WebhookSubscription, redo map[int64]bool, free int) (refused []int64, err error) {
	var tenants []int64
	for _, s := range subs {
		if !slices.Contains(tenants, s.TenantID) {
			tenants = append(tenants, s.TenantID)
		}
	}
	last, err := d.events.LastOf(ctx, tenants)
	if err != nil {
		return nil, err
	}
	var withWork []int64
	for _, s := range subs {
		if redo[s.ID] || (s.Status == model.WebhookActive && s.EventCursor < last[s.TenantID]) {
			withWork = append(withWork, s.TenantID)
		}
	}
	d.mu.Lock()
	for t := range d.busy {
		withWork = append(withWork, t)
	}
	slices.Sort(withWork)
	share := TenantWorkers(d.o.Workers, len(slices.Compact(withWork)))
	d.mu.Unlock()
	for _, s := range byTenantInTurn(subs) {
		work := redo[s.ID] || (s.Status == model.WebhookActive && s.EventCursor < last[s.TenantID])
		d.mu.Lock()
		running, may := d.running[s.ID], d.mayTake(d.busy[s.TenantID], free, share)
		d.mu.Unlock()
		if !work || running {
			continue
		}
		if !may {
			refused = append(refused, s.TenantID)
			continue
		}
		leased := time.Now()
		claimed, err := d.store.Claim(ctx, s.ID, d.o.Owner, d.o.Lease)
		if err != nil {
			return nil, err
		}
		if claimed == nil {
			continue
		}
		d.mu.Lock()
		d.running[s.ID] = true
		d.busy[s.TenantID]++
		d.mu.Unlock()
		d.wg.Add(1)
		go d.serve(ctx, claimed, leased)
		if free--; free == 0 {
			return nil, nil
		}
	}
	return refused, nil
}

// byTenantInTurn orders the candidates (oldest first) so the tenants take
// turns: each tenant's first, in the order the tenants first appear, then
// each one's second, and so on.
func byTenantInTurn(subs []model.WebhookSubscription) []model.WebhookSubscription {
	var order []int64
	queues := map[int64][]model.WebhookSubscription{}
	for _, s := range subs {
		if _, ok := queues[s.TenantID]; !ok {
			order = append(order, s.TenantID)
		}
		queues[s.TenantID] = append(queues[s.TenantID], s)
	}
	out := make([]model.WebhookSubscription, 0, len(subs))
	for len(out) < len(subs) {
		for _, t := range order {
			if q := queues[t]; len(q) > 0 {
				out = append(out, q[0])
				queues[t] = q[1:]
			}
		}
	}
	return out
}

// serve delivers to one subscription for up to a slice, round after round,
// then hands the lease back. leased is when the lease was taken.
func (d *Deliverer) serve(ctx context.Context, sub *model.WebhookSubscription, leased time.Time) {
	defer d.wg.Done()
	defer func() {
		rctx, cancel := detached(ctx)
		defer cancel()
		if err := d.store.Release(rctx, sub.ID, d.o.Owner); err != nil {
			d.o.Log.Warn().Err(err).Int64("subscription_id", sub.ID).Msg("webhooks: releasing the lease failed; it expires")
		}
		d.mu.Lock()
		delete(d.running, sub.ID)
		if d.busy[sub.TenantID]--; d.busy[sub.TenantID] <= 0 {
			delete(d.busy, sub.TenantID)
		}
		d.mu.Unlock()
	}()
	log := d.o.Log.With().Int64("subscription_id", sub.ID).Int64("tenant_id", sub.TenantID).Logger()
	secrets, err := d.secrets(sub, time.Now(), log)
	if err != nil {
		// It waits behind the others, so that it does not come first in
		// every look for work.
		log.Error().Err(err).Msg("webhooks: the signing secret does not open; the subscription waits")
		read := *sub
		sub.NextAttemptAt = time.Now().Add(d.o.Retry.Max)
		if err := d.store.Record(ctx, d.o.Owner, read, sub, nil); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("webhooks: putting the subscription back failed")
		}
		return
	}
	end := time.Now().Add(d.o.Slice)
	l := &lease{d: d, id: sub.ID, secret: sub.SecretSealed, at: leased}
	if len(secrets) > 1 {
		// The previous secret signs until its grace ends, not to the
		// slice's end: the next claim leaves it out.
		l.signUntil = *sub.OldSecretUntil
		if l.signUntil.Before(end) {
			end = l.signUntil
		}
	}
	for ctx.Err() == nil && time.Now().Before(end) {
		more, err := d.round(ctx, sub, secrets, l)
		if err != nil {
			if ctx.Err() == nil && !errs.IsConflict(err) {
				log.Warn().Err(err).Msg("webhooks: delivery round failed")
			}
			return
		}
		if !more || !l.renew(ctx) {
			return
		}
	}
}

// secrets are the subscription's signing secrets at now: the current one,
// then the previous one while its grace lasts (a previous one that does not
// open is left out: the receiver has the current one).
func (d *Deliverer) secrets(sub *model.WebhookSubscription, now time.Time, log zerolog.Logger) ([][]byte, error) {
	aad := secretAAD(sub.TenantID, sub.AppID)
	cur, err := d.sealer.Open(sub.SecretSealed, aad)
	if err != nil {
		return nil, err
	}
	out := [][]byte{[]byte(cur)}
	if sub.OldSecretSealed != "" && sub.OldSecretUntil != nil && now.Before(*sub.OldSecretUntil) {
		old, err := d.sealer.Open(sub.OldSecretSealed, aad)
		if err != nil {
			log.Error().Err(err).Msg("webhooks: the previous signing secret does not open; deliveries are signed with the current one only")
			return out, nil
		}
		out = append(out, []byte(old))
	}
	return out, nil
}

// lease is a served subscription's lease: a round starts attempts only
// while every one of them ends (within the request timeout) and is recorded
// before the lease could pass to another instance, and it renews the lease
// as it goes, which fails, stopping the round, once the subscription is
// deleted or disabled.
type lease struct {
	d  *Deliverer
	id int64
	// secret is the sealed signing secret the round signs with: a
	// rotation ends the round at the next renewal. signUntil, when set,
	// is when the previous secret, which it signs with too, stops.
	secret    string
	signUntil time.Time
	// at is when the lease was last taken or renewed.
	at time.Time
	// lost: a renewal failed.
	lost bool
}

// storeWithin bounds a write that must be made even once Stop has
// cancelled the deliverer's context: recording the attempts a round made
// (the receiver has them; unrecorded, the next owner sends them again) and
// handing the lease back. It is a bound for a database that does not
// answer, not a wait: the writes take milliseconds.
const storeWithin = 5 * time.Second

// detached is ctx without its cancellation, bounded by storeWithin. The
// cancelled ctx still decides whether an attempt starts; detached only
// writes down what has been done.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeWithin)
}

// record writes a round's progress and deliveries (see DeliveryStore.Record)
// with a context a stop does not cancel: the attempts it records have been
// made, and the receivers have them.
func (d *Deliverer) record(ctx context.Context, read model.WebhookSubscription, sub *model.WebhookSubscription, rows []model.WebhookDelivery) error {
	rctx, cancel := detached(ctx)
	defer cancel()
	return d.store.Record(rctx, d.o.Owner, read, sub, rows)
}

// renewEvery is how often a round renews its lease (and so notices a
// deletion or a disabling).
const renewEvery = time.Second

// renew extends the lease; false once it is lost.
func (l *lease) renew(ctx context.Context) bool {
	if l.lost {
		return false
	}
	at := time.Now()
	if err := l.d.store.Renew(ctx, l.id, l.d.o.Owner, l.secret, l.d.o.Lease); err != nil {
		l.lost = true
		return false
	}
	l.at = at
	return true
}

// mayStart says whether an attempt may start now: the deliverer is not
// stopping (ctx), the lease is kept (it is renewed every renewEvery) and an
// attempt started now ends, and the round is recorded, well before it runs
// out. The round's end is fixed when it starts (end), so one round never
// holds a worker for longer than a lease.
func (l *lease) mayStart(ctx context.Context, end time.Time) bool {
	now := time.Now()
	if ctx.Err() != nil || now.After(end) {
		return false
	}
	if now.Sub(l.at) >= renewEvery {
		return l.renew(ctx)
	}
	return !l.lost
}

// roundEnd is the last moment a round that starts now may start an attempt:
// a request timeout and a tenth of the lease (for recording) before the
// lease runs out.
func (l *lease) roundEnd() time.Time {
	o := l.d.o
	end := l.at.Add(o.Lease - o.RequestTimeout - o.Lease/10)
	if !l.signUntil.IsZero() && l.signUntil.Before(end) {
		return l.signUntil
	}
	return end
}

// outcome of one attempt.
type outcome struct {
	ok     bool
	res    Result
	errMsg string
	at     time.Time
}

// attempt signs and posts one event. The request is not cut by ctx's
// cancellation (a draining process lets it finish), only by the sender's
// timeouts.
func (d *Deliverer) attempt(ctx context.Context, url string, secrets [][]byte, ev Event) outcome {
	body, err := Body(ev)
	if err != nil {
		return outcome{errMsg: "encoding: " + err.Error(), at: time.Now()}
	}
	res, err := d.send.Post(context.WithoutCancel(ctx), url, Headers(secrets, ev.ID, body, time.Now()), body)
	o := outcome{res: res, at: time.Now()}
	switch {
	case err != nil:
		o.errMsg = err.Error()
	case res.Status >= 200 && res.Status < 300:
		o.ok = true
	default:
		// The status only: a receiver's answer often quotes what it
		// refuses (a phone number, an origin id), and kept in the delivery
		// log and the disabling reason it would be personal data that the
		// app and the admins read and that no erasure can find in every
		// form. The partner's receiver logs its own answers.
		o.errMsg = "HTTP " + strconv.Itoa(res.Status)
	}
	// A transport error may quote the receiver (the names its certificate
	// is valid for) and goes to the delivery log, a utf8mb4 column that
	// refuses bytes that are not UTF-8 (and gRPC strings must be UTF-8):
	// kept as it came, an error in another encoding would fail the round's
	// record, and the attempt be made again at every look for work, without
	// backoff and never disabling the subscription.
	o.errMsg = strings.ToValidUTF8(o.errMsg, "\uFFFD")
	result := "failed"
	if o.ok {
		result = "delivered"
	}
	d.attempts.WithLabelValues(result).Inc()
	d.latency.Observe(res.Latency.Seconds())
	return o
}

// round sends due redeliveries, then the next events after the cursor;
// more reports that the subscription may have more right away.
func (d *Deliverer) round(ctx context.Context, sub *model.WebhookSubscription, secrets [][]byte, l *lease) (more bool, err error) {
	if sub.Status != model.WebhookActive {
		// A disabled subscription receives nothing, redeliveries asked for
		// by its app included: they wait for an admin to enable it.
		return false, nil
	}
	end := l.roundEnd()
	redone, err := d.redeliver(ctx, sub, secrets)
	if err != nil {
		return false, err
	}
	now := time.Now()
	if sub.NextAttemptAt.After(now) {
		return false, nil
	}
	types := strings.Split(sub.EventTypes, ",")
	evs, scanned, err := d.events.After(ctx, sub.TenantID, sub.EventCursor, types, d.o.Batch)
	var gone *Expired
	if errors.As(err, &gone) {
		// At least once cannot hold past the log's retention: the
		// subscription stops and says which events it lost, its cursor
		// past them, so that an enable goes on from the oldest kept.
		read := *sub
		sub.EventCursor = gone.Through
		return false, d.disable(ctx, read, sub, fmt.Sprintf("%s; enable the subscription to go on from event %d", gone, gone.Through+1), nil)
	}
	if err != nil {
		return false, err
	}
	if len(evs) == 0 {
		if scanned > sub.EventCursor {
			read := *sub
			sub.EventCursor, sub.NextAttemptAt = scanned, now
			return false, d.store.Record(ctx, d.o.Owner, read, sub, nil)
		}
		return redone, nil
	}
	ids := make([]int64, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	prior, err := d.store.Attempted(ctx, sub.ID, ids)
	if err != nil {
		return false, err
	}
	rows := map[int64]model.WebhookDelivery{}
	for _, r := range prior {
		if old, ok := rows[r.EventID]; !ok || r.ID > old.ID {
			rows[r.EventID] = r
		}
	}

	// Send in order, at most InFlight at once; after a failure nothing new
	// starts (the receiver is likely down; the rest waits for the retry),
	// nor once the round has run its time or the lease is lost (the rest
	// waits for the next round, without counting as a failure).
	outs := make([]*outcome, len(evs))
	sem := make(chan struct{}, d.o.InFlight)
	var wg sync.WaitGroup
	var failed sync.Once
	stop := make(chan struct{})
send:
	for i, ev := range evs {
		if r, ok := rows[ev.ID]; ok && r.Status == model.DeliveryDelivered {
			continue
		}
		select {
		case <-stop:
			break send
		case sem <- struct{}{}:
		}
		select {
		case <-stop:
			<-sem
			break send
		default:
		}
		if !l.mayStart(ctx, end) {
			<-sem
			break send
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := d.attempt(ctx, sub.URL, secrets, ev)
			outs[i] = &o
			if !o.ok {
				failed.Do(func() { close(stop) })
			}
		}()
	}
	wg.Wait()
	return d.settle(ctx, sub, evs, scanned, rows, outs)
}

// disable records the round's deliveries and sub, read as read, disabled
// for reason, and counts and logs the disabling once it is written (an
// admin's enable or disable made during the round wins). It is written
// even if the deliverer is stopping (see record).
func (d *Deliverer) disable(ctx context.Context, read model.WebhookSubscription, sub *model.WebhookSubscription, reason string, write []model.WebhookDelivery) error {
	sub.Status, sub.DisabledReason = model.WebhookDisabled, clip.String(reason, 1000)
	reason = sub.DisabledReason
	if err := d.record(ctx, read, sub, write); err != nil {
		return err
	}
	if sub.Status == model.WebhookDisabled && sub.DisabledReason == reason {
		d.disabled.Inc()
		d.o.Log.Warn().Int64("subscription_id", sub.ID).Str("reason", reason).Msg("webhooks: subscription disabled")
	}
	return nil
}

// settle moves the cursor over the delivered prefix and records the
// attempts, even if the deliverer is stopping (see record); a failure
// schedules the retry or, after the retry window, disables the
// subscription.
func (d *Deliverer) settle(ctx context.Context, sub *model.WebhookSubscription, evs []Event, scanned int64,
	rows map[int64]model.WebhookDelivery, outs []*outcome,
) (bool, error) {
	now := time.Now()
	read := *sub
	cursor, blocked, failed := sub.EventCursor, false, false
	var firstErr string
	var write []model.WebhookDelivery
	for i, ev := range evs {
		r, had := rows[ev.ID]
		o := outs[i]
		delivered := (had && r.Status == model.DeliveryDelivered) || (o != nil && o.ok)
		if !blocked && delivered {
			cursor = ev.ID
		} else if !delivered {
			blocked = true
			if o != nil && firstErr == "" {
				firstErr = o.errMsg
			}
		}
		if o == nil {
			continue
		}
		failed = failed || !o.ok
		if !had {
			r = model.WebhookDelivery{TenantID: sub.TenantID, SubscriptionID: sub.ID, EventID: ev.ID, EventType: ev.Type}
		}
		r.Attempts++
		r.ResponseCode, r.LatencyMS, r.LastAttemptAt = o.res.Status, o.res.Latency.Milliseconds(), o.at
		if o.ok {
			r.Status, r.LastError = model.DeliveryDelivered, ""
		} else {
			r.Status, r.LastError = model.DeliveryPending, clip.String(o.errMsg, 1000)
		}
		write = append(write, r)
	}
	if !blocked && len(evs) < d.o.Batch && scanned > cursor {
		cursor = scanned
	}
	progressed := cursor > sub.EventCursor
	sub.EventCursor = cursor
	if blocked && !failed {
		// Cut short (its time ran out, or the lease was lost): no failure;
		// what was delivered is recorded, and the rest waits for the next
		// round.
		if progressed {
			sub.Attempts = 0
		}
		sub.NextAttemptAt = now
		return progressed, d.record(ctx, read, sub, write)
	}
	if !blocked {
		// Served now: the subscription goes behind those waiting longer
		// (candidates come by next_attempt_at).
		sub.Attempts, sub.NextAttemptAt = 0, now
		return true, d.record(ctx, read, sub, write)
	}
	if progressed || sub.Attempts == 0 {
		sub.Attempts, sub.FailingSince = 0, now
	}
	sub.Attempts++
	if d.o.Retry.GiveUp(sub.FailingSince, now) {
		// The deliveries stay pending here: the store fails them with the
		// disabling, and only if the disabling is written. An admin's
		// enable made meanwhile wins, the events are retried, and so the
		// log keeps them pending.
		return false, d.disable(ctx, read, sub, fmt.Sprintf("deliveries failed for %s (%d attempts) since %s; last error: %s",
			d.o.Retry.Window, sub.Attempts, sub.FailingSince.UTC().Format(time.RFC3339), firstErr), write)
	}
	// The receiver's longest asked wait (several attempts may have
	// failed at once) holds for the subscription's next attempt.
	var asked Result
	for _, o := range outs {
		if o == nil || o.ok {
			continue
		}
		if w, ok := o.res.asksToWait(); ok && (!asked.HasRetryAfter || w > asked.RetryAfter) {
			asked = o.res
		}
	}
	sub.NextAttemptAt = now.Add(d.backoff(sub.Attempts, asked))
	for i := range write {
		if write[i].Status == model.DeliveryPending {
			write[i].NextAttemptAt = sub.NextAttemptAt
		}
	}
	return false, d.record(ctx, read, sub, write)
}

// redeliver sends the subscription's due redeliveries; each is retried on
// its own schedule for the retry window, then failed. Once the deliverer is
// stopping none starts, and those made are recorded (see record).
func (d *Deliverer) redeliver(ctx context.Context, sub *model.WebhookSubscription, secrets [][]byte) (bool, error) {
	due, err := d.store.DueRedeliveries(ctx, sub.ID, d.o.InFlight)
	if err != nil {
		return false, err
	}
	if len(due) == 0 {
		if sub.RedeliverAt != nil && !sub.RedeliverAt.After(time.Now()) {
			// Listed as due, none is: a trim or an erasure removed them.
			// The record sets the time from those left, so the
			// subscription is not looked at again for nothing.
			return false, d.record(ctx, *sub, sub, nil)
		}
		return false, nil
	}
	done := make([]bool, len(due))
	var wg sync.WaitGroup
	for i := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ctx.Err() != nil {
				return
			}
			r := &due[i]
			ev, err := d.events.Get(ctx, sub.TenantID, r.EventID)
			var o outcome
			switch {
			case errs.IsNotFound(err):
				r.Status, r.LastError, r.LastAttemptAt = model.DeliveryFailed, "the event is no longer kept", time.Now()
				done[i] = true
				return
			case err != nil && ctx.Err() != nil:
				// Stopped while reading the event: nothing was sent.
				return
			case err != nil:
				o = outcome{errMsg: err.Error(), at: time.Now()}
			default:
				o = d.attempt(ctx, sub.URL, secrets, ev)
			}
			done[i] = true
			r.Attempts++
			r.ResponseCode, r.LatencyMS, r.LastAttemptAt = o.res.Status, o.res.Latency.Milliseconds(), o.at
			switch {
			case o.ok:
				r.Status, r.LastError = model.DeliveryDelivered, ""
			case d.o.Retry.GiveUp(r.CreatedAt, o.at):
				r.Status, r.LastError = model.DeliveryFailed, clip.String(o.errMsg, 1000)
			default:
				r.NextAttemptAt = o.at.Add(d.backoff(r.Attempts, o.res))
				r.LastError = clip.String(o.errMsg, 1000)
			}
		}()
	}
	wg.Wait()
	write := make([]model.WebhookDelivery, 0, len(due))
	for i, r := range due {
		if done[i] {
			write = append(write, r)
		}
	}
	if len(write) == 0 {
		// Stopped before any started: nothing to record, the redeliveries
		// stay due for the next owner.
		return false, ctx.Err()
	}
	return true, d.record(ctx, *sub, sub, write)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
