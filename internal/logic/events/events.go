// Package events is the partner event log (PRODUCT §7): each change
// partners can learn of appends an event in the transaction of the change,
// so an event exists if and only if its change committed. Ids increase by
// one per tenant in commit order, so a reader that resumes after the id of
// the last event it received misses none and sees none twice.
//
// Writers call Log.Append with the context of their transaction (or Stage
// it, to write every event of the transaction with one statement at its
// end). Readers page through the log (Log.List) or stream it (Streams).
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// The event types. Every one needs the app scope "read" (the same data is
// readable through the conversation API); users read the log only as the
// tenant's admins.
const (
	ConversationCreated = "conversation.created"
	TranscriptReady     = "transcript.ready"
	TrackerMatched      = "tracker.matched"
	ConversationDeleted = "conversation.deleted"
	PersonErased        = "person.erased"
	// TrackerDeleted: the tracker's hits are gone with it, everywhere.
	TrackerDeleted = "tracker.deleted"
)

// Types are the event types, in the order they are documented.
var Types = []string{ConversationCreated, TranscriptReady, TrackerMatched, ConversationDeleted, PersonErased, TrackerDeleted}

// maxDataBytes bounds an event's data as JSON (the column's size).
const maxDataBytes = 2048

// Event is one entry of a tenant's event log.
type Event struct {
	// ID is assigned by Append: > 0, increasing by one per tenant.
	ID       int64
	TenantID int64
	Type     string
	// OccurredAt is assigned by Append: when the change was written (UTC).
	OccurredAt time.Time
	// Data describes the change: a JSON object of ids and counts, never
	// personal data of ours. A partner's own ids (origin ids) are theirs
	// to choose and may hold some, such as a caller's number: an erasure
	// redacts them here too. Numbers read back are json.Number.
	Data map[string]any
}

// Repo stores the event log.
type Repo interface {
	// Append stores evs in the transaction ctx carries as its last write,
	// setting their ids and times; ids follow commit order per tenant.
	Append(ctx context.Context, evs []model.Event) error
	// After returns at most limit events of the tenant above cursor (and
	// at most upTo when it is above 0), of the types (all when none), by
	// id; and the id through which the tenant's events were trimmed, read
	// after them.
	After(ctx context.Context, tenantID, cursor, upTo int64, types []string, limit int) ([]model.Event, int64, error)
	// Head returns the tenant's newest event id and the id through which
	// its events were trimmed.
	Head(ctx context.Context, tenantID int64) (last, trimmed int64, err error)
	// Heads returns the newest event id of each tenant that has one.
	Heads(ctx context.Context, tenantIDs []int64) (map[int64]int64, error)
	// Trim deletes about limit of the oldest events that occurred before
	// before and says how many it deleted.
	Trim(ctx context.Context, before time.Time, limit int) (int, error)
}

// Transactor runs functions in one transaction (dao.Transactor).
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// AfterCommit runs fn once the transaction ctx carries commits.
	AfterCommit(ctx context.Context, fn func())
}

// Log is a tenant's event log: what writers append to and readers page.
type Log struct {
	repo Repo
	tx   Transactor
	// appended are told, after the commit, of the tenants that have new
	// events (Streams wakes their readers).
	mu       sync.Mutex
	appended []func(tenantIDs []int64)
}

// NewLog works through repo; appended (may be nil) hears of committed
// appends, by tenant.
func NewLog(repo Repo, tx Transactor, appended func(tenantIDs []int64)) *Log {
	l := &Log{repo: repo, tx: tx}
	if appended != nil {
		l.OnAppended(appended)
	}
	return l
}

// OnAppended adds fn to the functions told, after each commit that
// appended events, of the tenants that have new ones (e.g. to wake a
// delivery worker). fn must not block.
func (l *Log) OnAppended(fn func(tenantIDs []int64)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appended = append(l.appended, fn)
}

func (l *Log) notify(tenantIDs []int64) {
	l.mu.Lock()
	fns := slices.Clone(l.appended)
	l.mu.Unlock()
	for _, fn := range fns {
		fn(tenantIDs)
	}
}

// stageKey carries a Stage's events in a context.
type stageKey struct{}

type stage struct{ evs []Event }

// Append adds evs to their tenants' logs in the transaction ctx carries
// (or in one of its own when it carries none), so they commit or roll
// back with the change they report. Under a context from Stage, it only
// records them for the stage's flush.
func (l *Log) Append(ctx context.Context, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		if !slices.Contains(Types, e.Type) || e.TenantID <= 0 {
			return errs.Internal(fmt.Errorf("event of type %q for tenant %d", e.Type, e.TenantID))
		}
	}
	if s, ok := ctx.Value(stageKey{}).(*stage); ok {
		s.evs = append(s.evs, evs...)
		return nil
	}
	rows := make([]model.Event, len(evs))
	for i, e := range evs {
		data, err := json.Marshal(e.Data)
		if err != nil || len(data) > maxDataBytes || data[0] != '{' {
			return errs.Internal(fmt.Errorf("data of a %s event (%d bytes): %v", e.Type, len(data), err))
		}
		rows[i] = model.Event{TenantID: e.TenantID, Type: e.Type, Data: string(data)}
	}
	return l.tx.InTx(ctx, func(ctx context.Context) error {
		if err := l.repo.Append(ctx, rows); err != nil {
			return err
		}
		tenants := tenantsOf(rows)
		l.tx.AfterCommit(ctx, func() { l.notify(tenants) })
		return nil
	})
}

// Stage returns a context under which Append records events instead of
// writing them, and flush, which appends every recorded event with one
// statement in the transaction ctx carries. Call flush as the last write
// of the transaction: it locks the tenants' sequence rows until the
// commit, and every other appender of those tenants waits for it.
func (l *Log) Stage(ctx context.Context) (staged context.Context, flush func() error) {
	s := &stage{}
	return context.WithValue(ctx, stageKey{}, s), func() error {
		evs := s.evs
		s.evs = nil
		return l.Append(ctx, evs...)
	}
}

func tenantsOf(rows []model.Event) []int64 {
	var out []int64
	for _, r := range rows {
		if !slices.Contains(out, r.TenantID) {
			out = append(out, r.TenantID)
		}
	}
	return out
}

// fromRow decodes a stored event.
func fromRow(r model.Event) (Event, error) {
	e := Event{ID: r.ID, TenantID: r.TenantID, Type: r.Type, OccurredAt: r.OccurredAt.UTC()}
	dec := json.NewDecoder(strings.NewReader(r.Data))
	dec.UseNumber()
	if err := dec.Decode(&e.Data); err != nil {
		return Event{}, errs.Internal(fmt.Errorf("event %d of tenant %d: %w", r.ID, r.TenantID, err))
	}
	return e, nil
}

// CheckTypes validates a type filter given as field; duplicates are
// dropped.
func CheckTypes(field string, types []string) ([]string, error) {
	var out []string
	for _, t := range types {
		if !slices.Contains(Types, t) {
			return nil, errs.InvalidArgument(field, "unknown event type %q (known: %s)", t, strings.Join(Types, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}
