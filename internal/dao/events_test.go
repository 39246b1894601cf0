package dao_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

func newEventLog(db *gorm.DB) (*events.Log, *dao.Transactor) {
	tx := dao.NewTransactor(db)
	return events.NewLog(dao.NewEvents(db), tx, nil), tx
}

func created(tenantID, conversationID int64) events.Event {
	return events.Event{TenantID: tenantID, Type: events.ConversationCreated, Data: map[string]any{"conversation_id": conversationID}}
}

// listAll pages through the tenant's log as its admin from cursor.
func listAll(t *testing.T, l *events.Log, tenantID, cursor int64, types ...string) []events.Event {
	t.Helper()
	ctx := accesstest.User(model.RoleAdmin, tenantID, 1)
	var out []events.Event
	for {
		p, err := l.List(ctx, events.ListRequest{Cursor: cursor, Types: types, PageSize: 3})
		if err != nil {
			t.Fatalf("list after %d: %v", cursor, err)
		}
		out = append(out, p.Events...)
		if len(p.Events) == 0 {
			return out
		}
		cursor = p.NextCursor
	}
}

func ids(evs []events.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func equalIDs(a []int64, b ...int64) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// Ids count from 1 per tenant, with no hole where a transaction rolled
// back; staged events are written at the flush, in order; what a page
// returns decodes to what was appended.
func TestEventLogAppendsInTheTransaction(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		l, tx := newEventLog(db)
		for i := range 3 {
			if err := l.Append(ctx, created(7, int64(100+i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Append(ctx, created(8, 1)); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("the change failed")
		err := tx.InTx(ctx, func(ctx context.Context) error {
			if err := l.Append(ctx, created(7, 999)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled-back append: %v", err)
		}
		err = tx.InTx(ctx, func(ctx context.Context) error {
			sctx, flush := l.Stage(ctx)
			if err := l.Append(sctx, created(7, 200)); err != nil {
				return err
			}
			if err := l.Append(sctx, events.Event{TenantID: 7, Type: events.TranscriptReady, Data: map[string]any{"conversation_id": 200, "sentence_count": 12}}); err != nil {
				return err
			}
			return flush()
		})
		if err != nil {
			t.Fatal(err)
		}
		got := listAll(t, l, 7, 0)
		if !equalIDs(ids(got), 1, 2, 3, 4, 5) {
			t.Fatalf("tenant 7 ids %v, want 1..5 (the rolled-back event takes no id)", ids(got))
		}
		for _, e := range got {
			if fmt.Sprint(e.Data["conversation_id"]) == "999" {
				t.Fatalf("the rolled-back event is in the log: %+v", e)
			}
		}
		if last := got[4]; last.Type != events.TranscriptReady || fmt.Sprint(last.Data["sentence_count"]) != "12" || last.TenantID != 7 ||
			time.Since(last.OccurredAt) > time.Minute {
			t.Fatalf("staged event read back as %+v", last)
		}
		if b := listAll(t, l, 8, 0); !equalIDs(ids(b), 1) {
			t.Fatalf("tenant 8 ids %v, want [1]", ids(b))
		}
		if r := listAll(t, l, 7, 2, events.TranscriptReady); !equalIDs(ids(r), 5) {
			t.Fatalf("transcript.ready after 2: %v, want [5]", ids(r))
		}
		if _, err := l.List(accesstest.User(model.RoleAdmin, 7, 1), events.ListRequest{Types: []string{"conversation.updated"}}); !errs.Is(err, errs.ReasonInvalidArgument) {
			t.Fatalf("unknown type: %v", err)
		}
		if _, err := l.List(accesstest.User(model.RoleManager, 7, 2), events.ListRequest{}); !errs.Is(err, errs.ReasonPermissionDenied) {
			t.Fatalf("a manager pages the tenant's log: %v", err)
		}
		if _, err := l.List(accesstest.App(7, access.ScopeIngest), events.ListRequest{}); !errs.Is(err, errs.ReasonPermissionDenied) {
			t.Fatalf("an app without read pages the log: %v", err)
		}
		if p, err := l.List(accesstest.App(7, access.ScopeRead), events.ListRequest{Cursor: 4}); err != nil || !equalIDs(ids(p.Events), 5) {
			t.Fatalf("an app with read after 4: %v %v", ids(p.Events), err)
		}
	})
}

// Retention deletes in bounded batches; a cursor in the trimmed stretch is
// EVENT_CURSOR_EXPIRED, cursor 0 starts at the oldest event kept, and a
// cursor at the edge goes on without a gap.
func TestEventLogTrimsByRetention(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		l, _ := newEventLog(db)
		for i := range 10 {
			if err := l.Append(ctx, created(7, int64(i)), created(9, int64(i))); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().UTC().Add(-8 * 24 * time.Hour)
		if err := db.Exec("UPDATE events SET occurred_at = ? WHERE id <= 7", old).Error; err != nil {
			t.Fatal(err)
		}
		tr := events.NewTrimmer(l, zerolog.Nop(), events.TrimOptions{Retention: 7 * 24 * time.Hour, Batch: 4, Pause: time.Millisecond})
		n, err := tr.TrimOnce(ctx)
		if err != nil || n != 14 {
			t.Fatalf("trimmed %d (%v), want 14", n, err)
		}
		if n, err := tr.TrimOnce(ctx); err != nil || n != 0 {
			t.Fatalf("second trim: %d %v", n, err)
		}
		admin := accesstest.User(model.RoleAdmin, 7, 1)
		for _, cursor := range []int64{1, 6} {
			_, err := l.List(admin, events.ListRequest{Cursor: cursor})
			if !errs.Is(err, errs.ReasonEventCursorExpired) || errs.From(err).Status != 410 {
				t.Fatalf("cursor %d after trimming 1..7: %v", cursor, err)
			}
		}
		if got := listAll(t, l, 7, 0); !equalIDs(ids(got), 8, 9, 10) {
			t.Fatalf("from the oldest kept: %v", ids(got))
		}
		if got := listAll(t, l, 7, 7); !equalIDs(ids(got), 8, 9, 10) {
			t.Fatalf("from the edge: %v", ids(got))
		}
		// The service's own workers read without a caller, by the same rules.
		if got, err := l.Read(ctx, 7, 0, nil, 2); err != nil || !equalIDs(ids(got), 8, 9) {
			t.Fatalf("Read from 0: %v %v", ids(got), err)
		}
		if _, err := l.Read(ctx, 7, 3, nil, 2); !errs.Is(err, errs.ReasonEventCursorExpired) {
			t.Fatalf("Read from a trimmed cursor: %v", err)
		}
		if err := l.Append(ctx, created(7, 11)); err != nil {
			t.Fatal(err)
		}
		if got := listAll(t, l, 7, 10); !equalIDs(ids(got), 11) {
			t.Fatalf("after trimming, ids go on: %v", ids(got))
		}
	})
}

var errRolledBack = errors.New("the change failed; roll back")

// writeConcurrently has writers goroutines, writer w on pools[w%len(pools)],
// make perWriter changes each, every one in a transaction of its own that
// stays open up to 2 ms after the change; every fifth is rolled back. It
// returns a channel closed once they are all done, and the counts of the
// changes committed and of those that failed (final once it is closed).
func writeConcurrently(t *testing.T, pools []*gorm.DB, writers, perWriter int, change func(ctx context.Context, w, i int) error) (<-chan struct{}, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var (
		wg        sync.WaitGroup
		committed atomic.Int64
		failed    atomic.Int64
	)
	for w := range writers {
		tx := dao.NewTransactor(pools[w%len(pools)])
		wg.Go(func() {
			for i := range perWriter {
				err := tx.InTx(context.Background(), func(ctx context.Context) error {
					if err := change(ctx, w, i); err != nil {
						return err
					}
					time.Sleep(time.Duration(rand.N(3)) * time.Millisecond)
					if i%5 == 4 {
						return errRolledBack
					}
					return nil
				})
				switch {
				case err == nil:
					committed.Add(1)
				case !errors.Is(err, errRolledBack):
					failed.Add(1)
					t.Errorf("writer %d: %v", w, err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	// A test that ends early leaves them to finish before its databases close.
	t.Cleanup(func() { <-done })
	return done, &committed, &failed
}

// holdOpen makes change in a transaction of its own and returns once it is
// made, with the transaction still open; commit lets it commit and returns
// its error (it is called at the end of the test if not before). A change
// that fails ends the test.
func holdOpen(t *testing.T, db *gorm.DB, change func(ctx context.Context) error) (commit func() error) {
	t.Helper()
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- dao.NewTransactor(db).InTx(context.Background(), func(ctx context.Context) error {
			if err := change(ctx); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("the change to hold open: %v", err)
	}
	var (
		once sync.Once
		err  error
	)
	commit = func() error {
		once.Do(func() {
			close(release)
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = commit() })
	return commit
}

// Writers in two connection pools (two instances) append to one tenant
// concurrently, each holding its transaction open a while after the
// append, while a reader pages the log as fast as it can: the reader sees
// every id exactly once, each one more than the last, so no event that
// commits late with a smaller id is ever skipped.
func TestEventIdsFollowCommitOrderOnMariaDB(t *testing.T) {
	dbs := twoPools(t)
	const writers, perWriter = 8, 25
	logs := make([]*events.Log, writers)
	for w := range writers {
		logs[w], _ = newEventLog(dbs[w%2])
	}
	start := time.Now()
	done, committed, failed := writeConcurrently(t, dbs, writers, perWriter, func(ctx context.Context, w, i int) error {
		return logs[w].Append(ctx, created(5, int64(w*1000+i)))
	})
	reader, _ := newEventLog(dbs[1])
	ctx := accesstest.User(model.RoleAdmin, 5, 1)
	var cursor int64
	seen, reads := 0, 0
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		p, err := reader.List(ctx, events.ListRequest{Cursor: cursor, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		reads++
		for _, e := range p.Events {
			if e.ID != cursor+1 {
				t.Fatalf("after %d the reader got %d: an event was skipped or repeated", cursor, e.ID)
			}
			cursor = e.ID
			seen++
		}
		if finished && len(p.Events) == 0 {
			break
		}
	}
	want := int(committed.Load())
	t.Logf("%d writers on 2 pools: %d events committed, %d rolled back, read in %d pages in %s",
		writers, want, writers*perWriter-want-int(failed.Load()), reads, time.Since(start).Round(time.Millisecond))
	if seen != want || want != writers*perWriter*4/5 {
		t.Fatalf("the reader saw %d events, %d committed (want %d)", seen, want, writers*perWriter*4/5)
	}
}

// A stream sends the backlog, then events appended by this instance (woken
// at once) and by another one (found by the poll), and ends with
// UNAVAILABLE when the server stops.
func TestEventStreamTailsAndStops(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		var streams *events.Streams
		local := events.NewLog(dao.NewEvents(db), dao.NewTransactor(db), func(ts []int64) { streams.Appended(ts) })
		remote, _ := newEventLog(db) // another instance: nobody hears of its appends
		streams = events.NewStreams(local, zerolog.Nop(), events.StreamOptions{Poll: 300 * time.Millisecond, Batch: 2})
		var heard atomic.Int64 // a second listener, as a delivery worker would add
		local.OnAppended(func(ts []int64) { heard.Add(int64(len(ts))) })
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		streams.Start(sctx)
		for i := range 5 {
			if err := local.Append(ctx, created(3, int64(i))); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan events.Event, 100)
		ended := make(chan error, 1)
		go func() {
			ended <- streams.Stream(accesstest.App(3, access.ScopeRead), events.StreamRequest{Cursor: 1}, func(e events.Event) error {
				got <- e
				return nil
			})
		}()
		next := func(want int64, within time.Duration) time.Duration {
			t.Helper()
			start := time.Now()
			select {
			case e := <-got:
				if e.ID != want {
					t.Fatalf("got event %d, want %d", e.ID, want)
				}
			case err := <-ended:
				t.Fatalf("the stream ended: %v", err)
			case <-time.After(within):
				t.Fatalf("no event %d within %s", want, within)
			}
			return time.Since(start)
		}
		for id := int64(2); id <= 5; id++ {
			next(id, 5*time.Second)
		}
		if err := local.Append(ctx, created(3, 6)); err != nil {
			t.Fatal(err)
		}
		t.Logf("a local append reached the stream in %s", next(6, 5*time.Second))
		if err := remote.Append(ctx, created(3, 7)); err != nil {
			t.Fatal(err)
		}
		t.Logf("another instance's append reached the stream in %s (poll 300ms)", next(7, 5*time.Second))
		if err := local.Append(ctx, created(4, 1)); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			t.Fatalf("another tenant's event reached the stream: %+v", e)
		case <-time.After(500 * time.Millisecond):
		}
		if n := streams.Open(); n != 1 {
			t.Fatalf("%d streams open", n)
		}
		if n := heard.Load(); n != 7 {
			t.Fatalf("the second listener heard of %d appends, want the 7 local ones", n)
		}
		streams.Stop()
		select {
		case err := <-ended:
			if !errs.Is(err, errs.ReasonUnavailable) {
				t.Fatalf("stopped stream ended with %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the stream did not end on Stop")
		}
		if n := streams.Open(); n != 0 {
			t.Fatalf("%d streams open after Stop", n)
		}
		err := streams.Stream(accesstest.App(3, access.ScopeSearch), events.StreamRequest{}, func(events.Event) error { return nil })
		if !errs.Is(err, errs.ReasonPermissionDenied) {
			t.Fatalf("an app without read: %v", err)
		}
	})
}

// scanCounter is the event store, counting the events each read of the
// log passes over: those after its cursor, up to the newest one.
type scanCounter struct {
	*dao.Events
	scanned atomic.Int64
	reads   atomic.Int64
}

func (c *scanCounter) After(ctx context.Context, tenantID, cursor, upTo int64, types []string, limit int) ([]model.Event, int64, error) {
	last, _, err := c.Head(ctx, tenantID)
	if err != nil {
		return nil, 0, err
	}
	if upTo > 0 {
		last = min(last, upTo)
	}
	c.scanned.Add(max(0, last-cursor))
	c.reads.Add(1)
	return c.Events.After(ctx, tenantID, cursor, upTo, types, limit)
}

// A stream of a few types moves past the events of the other types it has
// read: each event of the tenant wakes it, and it reads on from where its
// last read ended, not from the last event it sent, so n events of other
// types cost it about n events read, not about n²/2 (with a type that
// seldom occurs, a scan of the whole log kept at every event). What it
// sends is unchanged: the events of its types, in order, once.
func TestEventStreamOfSomeTypesReadsPastTheOthers(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		var streams *events.Streams
		store := &scanCounter{Events: dao.NewEvents(db)}
		l := events.NewLog(store, dao.NewTransactor(db), func(ts []int64) { streams.Appended(ts) })
		streams = events.NewStreams(l, zerolog.Nop(), events.StreamOptions{Poll: time.Hour})
		erased := func(userID int64) events.Event {
			return events.Event{TenantID: 3, Type: events.PersonErased, Data: map[string]any{"user_id": userID}}
		}
		if err := l.Append(ctx, erased(1)); err != nil {
			t.Fatal(err)
		}
		got, ended := make(chan events.Event, 10), make(chan error, 1)
		sctx, cancel := context.WithCancel(accesstest.App(3, access.ScopeRead))
		defer cancel()
		go func() {
			ended <- streams.Stream(sctx, events.StreamRequest{Types: []string{events.PersonErased}},
				func(e events.Event) error { got <- e; return nil })
		}()
		if e := <-got; e.ID != 1 {
			t.Fatalf("got event %d, want 1", e.ID)
		}
		const n = 60
		for i := range n {
			reads := store.reads.Load()
			if err := l.Append(ctx, created(3, int64(i))); err != nil {
				t.Fatal(err)
			}
			// Each append is read before the next one comes.
			polltest.Until(t, 5*time.Second, time.Millisecond, fmt.Sprintf("a read after event %d", i+2), func() bool {
				return store.reads.Load() > reads
			})
		}
		if err := l.Append(ctx, erased(2)); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.ID != n+2 || e.Type != events.PersonErased {
				t.Fatalf("got event %d (%s), want %d (%s)", e.ID, e.Type, n+2, events.PersonErased)
			}
		case err := <-ended:
			t.Fatalf("the stream ended: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %d", n+2)
		}
		select {
		case e := <-got:
			t.Fatalf("an event of another type, or one twice: %+v", e)
		case <-time.After(200 * time.Millisecond):
		}
		// Every read passes over what was appended since the one before
		// (a read may come while an append commits, and a wake may come
		// twice): well under 3n, where reading on from the last event
		// sent passed over about n²/2 = 1800.
		if scanned, reads := store.scanned.Load(), store.reads.Load(); scanned > 3*n {
			t.Fatalf("%d reads of the log passed over %d events for %d appended, want at most %d", reads, scanned, n+2, 3*n)
		}
		cancel()
		if err := <-ended; !errors.Is(err, context.Canceled) {
			t.Fatalf("the stream ended with %v", err)
		}
	})
}

// A reader paging the log for some types resumes from the next_cursor of
// its last page, which is past the events of the other types that page
// read: n events of other types cost it about n events read, not about
// n²/2. It still gets each event of its types once, in order.
func TestEventPagesOfSomeTypesReadPastTheOthers(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := &scanCounter{Events: dao.NewEvents(db)}
		l := events.NewLog(store, dao.NewTransactor(db), nil)
		admin := accesstest.User(model.RoleAdmin, 3, 1)
		var cursor int64
		var got []int64
		poll := func() {
			t.Helper()
			p, err := l.List(admin, events.ListRequest{Cursor: cursor, Types: []string{events.PersonErased}, PageSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(p.Events)...)
			cursor = p.NextCursor
		}
		const n = 60
		for i := range n {
			e := created(3, int64(i))
			if i%20 == 0 {
				e = events.Event{TenantID: 3, Type: events.PersonErased, Data: map[string]any{"user_id": i}}
			}
			if err := l.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			poll()
		}
		poll()
		if !equalIDs(got, 1, 21, 41) {
			t.Fatalf("pages of person.erased gave %v, want [1 21 41]", got)
		}
		if cursor != n {
			t.Fatalf("next_cursor %d after the whole log, want %d", cursor, n)
		}
		if scanned, reads := store.scanned.Load(), store.reads.Load(); scanned > 3*n {
			t.Fatalf("%d pages passed over %d events for %d appended, want at most %d", reads, scanned, n, 3*n)
		}
	})
}

// A read of a type that seldom occurs passes over at most events.ScanWindow
// events of the log, however far its cursor is behind: a page from cursor 0
// (which anyone with read may ask for again and again) read the tenant's
// whole log kept, millions of rows. Such a page may come back empty with
// its cursor moved on; paging on finds the event, and a stream reads on at
// once, without waiting for another event to wake it.
func TestEventReadsOfARareTypeAreBounded(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		store := &scanCounter{Events: dao.NewEvents(db)}
		l := events.NewLog(store, dao.NewTransactor(db), nil)
		n := 2*events.ScanWindow + events.ScanWindow/2
		batch := make([]events.Event, 0, 1000)
		for i := range n {
			batch = append(batch, created(3, int64(i)))
			if len(batch) == cap(batch) || i == n-1 {
				if err := l.Append(ctx, batch...); err != nil {
					t.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := l.Append(ctx, events.Event{TenantID: 3, Type: events.PersonErased, Data: map[string]any{"user_id": 9}}); err != nil {
			t.Fatal(err)
		}
		admin := accesstest.User(model.RoleAdmin, 3, 1)
		var cursor int64
		var pages []int
		var got []int64
		for len(got) == 0 && len(pages) < 10 {
			before := store.scanned.Load()
			p, err := l.List(admin, events.ListRequest{Cursor: cursor, Types: []string{events.PersonErased}, PageSize: 20})
			if err != nil {
				t.Fatal(err)
			}
			if scanned := store.scanned.Load() - before; scanned > events.ScanWindow {
				t.Fatalf("a page from cursor %d passed over %d events, want at most %d", cursor, scanned, events.ScanWindow)
			}
			if p.NextCursor <= cursor && len(p.Events) == 0 {
				t.Fatalf("an empty page from cursor %d before the newest event, next_cursor %d", cursor, p.NextCursor)
			}
			if last := p.NextCursor == int64(n+1); p.More == last {
				t.Fatalf("the page through %d says more %v", p.NextCursor, p.More)
			}
			pages = append(pages, len(p.Events))
			got = append(got, ids(p.Events)...)
			cursor = p.NextCursor
		}
		if want := int64(n + 1); !equalIDs(got, want) || cursor != want {
			t.Fatalf("pages %v gave %v through %d, want [%d] through %d", pages, got, cursor, want, want)
		}
		if len(pages) != 3 {
			t.Fatalf("%d pages, want 3 windows of %d", len(pages), events.ScanWindow)
		}

		streams := events.NewStreams(l, zerolog.Nop(), events.StreamOptions{Poll: time.Hour})
		sctx, cancel := context.WithCancel(accesstest.App(3, access.ScopeRead))
		defer cancel()
		sent := make(chan events.Event, 1)
		go func() {
			_ = streams.Stream(sctx, events.StreamRequest{Types: []string{events.PersonErased}}, func(e events.Event) error { sent <- e; return nil })
		}()
		select {
		case e := <-sent:
			if e.ID != int64(n+1) {
				t.Fatalf("the stream sent event %d, want %d", e.ID, n+1)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not read on past its first window")
		}
	})
}

// An open stream asks its caller's token again: revoked, the stream ends
// with TOKEN_REVOKED within a recheck; expired, it ends at the expiry even
// when the next recheck is far off; and a token no longer good refuses the
// stream before anything is sent. A stream that ended no longer counts.
func TestEventStreamEndsWithItsToken(t *testing.T) {
	db := daotest.Open(t)
	ctx := context.Background()
	var streams *events.Streams
	l, _ := newEventLog(db)
	if err := l.Append(ctx, created(3, 1)); err != nil {
		t.Fatal(err)
	}
	stream := func(recheck time.Duration, tok *accesstest.Token) (<-chan events.Event, <-chan error) {
		streams = events.NewStreams(l, zerolog.Nop(), events.StreamOptions{Recheck: recheck})
		got, ended := make(chan events.Event, 10), make(chan error, 1)
		sctx := tok.With(accesstest.App(3, access.ScopeRead))
		go func() {
			ended <- streams.Stream(sctx, events.StreamRequest{}, func(e events.Event) error { got <- e; return nil })
		}()
		return got, ended
	}
	endsWith := func(ended <-chan error, reason string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		select {
		case err := <-ended:
			if !errs.Is(err, reason) {
				t.Fatalf("the stream ended with %v, want %s", err, reason)
			}
		case <-time.After(within):
			t.Fatalf("the stream did not end within %s", within)
		}
		if n := streams.Open(); n != 0 {
			t.Fatalf("%d streams open after the stream ended", n)
		}
		return time.Since(start)
	}

	t.Run("revoked", func(t *testing.T) {
		tok := accesstest.NewToken(time.Now().Add(time.Hour))
		got, ended := stream(100*time.Millisecond, tok)
		if e := <-got; e.ID != 1 {
			t.Fatalf("got event %d", e.ID)
		}
		time.Sleep(300 * time.Millisecond) // waiting, rechecked and still good
		select {
		case err := <-ended:
			t.Fatalf("the stream ended before the revocation: %v", err)
		default:
		}
		tok.Revoke()
		t.Logf("ended %s after the revocation", endsWith(ended, errs.ReasonTokenRevoked, 2*time.Second))
	})
	t.Run("expired", func(t *testing.T) {
		tok := accesstest.NewToken(time.Now().Add(400 * time.Millisecond))
		got, ended := stream(time.Hour, tok)
		<-got
		took := endsWith(ended, errs.ReasonUnauthenticated, 2*time.Second)
		if left := time.Until(tok.Expires()); left > 0 {
			t.Fatalf("the stream ended %s before its token expired", left)
		}
		t.Logf("ended %s after it began waiting, at the expiry", took)
	})
	t.Run("already revoked", func(t *testing.T) {
		tok := accesstest.NewToken(time.Now().Add(time.Hour))
		tok.Revoke()
		got, ended := stream(time.Hour, tok)
		endsWith(ended, errs.ReasonTokenRevoked, 2*time.Second)
		if len(got) != 0 {
			t.Fatal("a revoked token was sent events")
		}
	})
}

// Two instances trim one MariaDB database at once, in small batches, while
// a writer appends: between them they delete exactly the old events, none
// of them fails, and the new ones stay readable after the edge.
func TestEventTrimmersRaceOnMariaDB(t *testing.T) {
	dbs := twoPools(t)
	ctx := context.Background()
	l, _ := newEventLog(dbs[0])
	for i := range 300 {
		if err := l.Append(ctx, created(int64(1+i%3), int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := dbs[0].Exec("UPDATE events SET occurred_at = ?", time.Now().UTC().Add(-8*24*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		deleted atomic.Int64
	)
	for _, db := range dbs {
		tr := events.NewTrimmer(events.NewLog(dao.NewEvents(db), dao.NewTransactor(db), nil), zerolog.Nop(),
			events.TrimOptions{Retention: 7 * 24 * time.Hour, Batch: 7, Pause: time.Millisecond})
		wg.Go(func() {
			n, err := tr.TrimOnce(ctx)
			if err != nil {
				t.Errorf("trim: %v", err)
			}
			deleted.Add(int64(n))
		})
	}
	wg.Go(func() {
		for i := range 30 {
			if err := l.Append(ctx, created(int64(1+i%3), int64(1000+i))); err != nil {
				t.Errorf("append while trimming: %v", err)
			}
		}
	})
	wg.Wait()
	if n := deleted.Load(); n != 300 {
		t.Fatalf("the trimmers deleted %d events, want the 300 old ones", n)
	}
	for tenant := int64(1); tenant <= 3; tenant++ {
		if got := listAll(t, l, tenant, 100); len(got) != 10 || got[0].ID != 101 {
			t.Fatalf("tenant %d after the trim: %v", tenant, ids(got))
		}
		if _, err := l.List(accesstest.User(model.RoleAdmin, tenant, 1), events.ListRequest{Cursor: 50}); !errs.Is(err, errs.ReasonEventCursorExpired) {
			t.Fatalf("tenant %d, cursor 50: %v", tenant, err)
		}
	}
}

// twoPools opens one scratch MariaDB database twice, as two instances do.
func twoPools(t *testing.T) []*gorm.DB {
	t.Helper()
	admin := os.Getenv("MGV_TEST_MYSQL_ADMIN_DSN")
	if admin == "" {
		t.Skip("MGV_TEST_MYSQL_ADMIN_DSN not set")
	}
	dsn := daotest.ScratchMariaDB(t, admin)
	return []*gorm.DB{daotest.Connect(t, "mysql", dsn), daotest.Connect(t, "mysql", dsn)}
}
