//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

// eventStream is one StreamEvents call whose events arrive on a channel.
type eventStream struct {
	events chan *openv1.Event
	done   chan error // the call's end: nil never, io.EOF or the status
	cancel context.CancelFunc
}

// streamEvents opens StreamEvents with token from cursor, of types.
func streamEvents(t *testing.T, conn *grpc.ClientConn, token string, cursor int64, types ...string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token))
	st, err := openv1.NewEventServiceClient(conn).StreamEvents(ctx, &openv1.StreamEventsRequest{Cursor: cursor, Types: types})
	if err != nil {
		cancel()
		t.Fatalf("StreamEvents: %v", err)
	}
	s := &eventStream{events: make(chan *openv1.Event, 1024), done: make(chan error, 1), cancel: cancel}
	go func() {
		for {
			e, err := st.Recv()
			if err != nil {
				s.done <- err
				return
			}
			s.events <- e
		}
	}()
	t.Cleanup(cancel)
	return s
}

// next waits for the stream's next event; the stream ending fails.
func (s *eventStream) next(t *testing.T, within time.Duration) *openv1.Event {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case err := <-s.done:
		t.Fatalf("the event stream ended: %v", err)
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return nil
}

// quiet asserts that no event arrives for a while.
func (s *eventStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Fatalf("unexpected event %d %s %v", e.Id, e.Type, e.Data.AsMap())
	case err := <-s.done:
		t.Fatalf("the event stream ended: %v", err)
	case <-time.After(d):
	}
}

// end waits for the stream's status.
func (s *eventStream) end(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(within):
		t.Fatalf("the stream did not end within %s", within)
	}
	return nil
}

// listEvents pages GET /api/v1/events from cursor to the end.
func listEvents(t *testing.T, s *Service, token string, cursor int64, query string) []controller.EventJSON {
	t.Helper()
	var out []controller.EventJSON
	for {
		var page controller.EventPageJSON
		authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/events?cursor=%d&page_size=7%s", cursor, query), token, nil).
			want(t, http.StatusOK, "").decode(t, &page)
		out = append(out, page.Events...)
		// A log this short ends no read at its scan window: has_more is
		// a full page.
		if n := len(page.Events); page.HasMore != (n == 7) {
			t.Fatalf("a page of %d events says has_more %v", n, page.HasMore)
		}
		// With types, a page that is not full reads on to the newest
		// event of any type.
		if n := len(page.Events); n > 0 {
			if last := page.Events[n-1].ID; page.NextCursor < last || (query == "" && page.NextCursor != last) {
				t.Fatalf("next_cursor %d after a page ending at %d", page.NextCursor, last)
			}
		}
		if !page.HasMore {
			return out
		}
		cursor = page.NextCursor
	}
}

// appWithScopes adds an app of f's tenant holding scopes and mints its token.
func appWithScopes(t *testing.T, f *Fixture, scopes string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	app := model.App{TenantID: f.Tenant.ID, Name: "app " + scopes, AppKey: fmt.Sprintf("ak_%d_%s", f.Tenant.ID, scopes),
		SecretHash: string(hash), Scopes: scopes, RateTier: "standard", CreatedAt: time.Now().UTC()}
	if err := f.DB.Create(&app).Error; err != nil {
		t.Fatal(err)
	}
	tok, err := f.tokens.IssueApp(&app, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func num(e *openv1.Event, key string) int64 {
	v, _ := e.Data.AsMap()[key].(float64)
	return int64(v)
}

// Every change writes its event with it, and only a committed change:
// conversation created (once, however many concurrent creates race on its
// origin id), transcript ready with its version, count and metrics, the
// tracker hits of a new transcript and those a changed tracker's
// re-application changes. The stream and the HTTP pages carry the same
// log; scopes, roles and the tenant boundary hold; a trimmed cursor is
// refused.
func TestEventsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_EVENTS_TRIM_INTERVAL"] = "300ms"
	// Streams outlive the deadline of unary calls.
	s.Env["MGV_GRPC_REQUEST_TIMEOUT"] = "3s"
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	appTok, admin := f.AppToken(t), f.Token(t, f.Admin)
	p := newPartner(t, conn, appTok)
	all, opened := streamEvents(t, conn, appTok, 0), time.Now()
	ready := streamEvents(t, conn, appTok, 0, "transcript.ready")
	otherStream := streamEvents(t, conn, other.AppToken(t), 0)

	var tr controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Budget", "keywords": []string{"预算"}}).
		want(t, http.StatusCreated, "").decode(t, &tr)

	// Eight identical creates race on one origin id: one conversation, one event.
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Go(func() { ids[i] = p.create("ev-1", f.Reps[0].ID, begin, 60_000, nil) })
	}
	wg.Wait()
	conv := ids[0]
	for _, id := range ids {
		if id != conv {
			t.Fatalf("racing creates answered %v", ids)
		}
	}
	e := all.next(t, 10*time.Second)
	if e.Id != 1 || e.Type != "conversation.created" || e.TenantId != f.Tenant.ID || num(e, "conversation_id") != conv ||
		e.Data.AsMap()["origin_conversation_id"] != "ev-1" || num(e, "owner_user_id") != f.Reps[0].ID {
		t.Fatalf("first event %d %s %v", e.Id, e.Type, e.Data.AsMap())
	}
	if time.Since(e.OccurredAt.AsTime()) > time.Minute {
		t.Fatalf("occurred_at %s", e.OccurredAt.AsTime())
	}
	// Refused changes write nothing: a conflicting create, a transcript of
	// an unknown conversation, an invalid transcript.
	_, err := p.conv.CreateConversation(p.ctx, &openv1.CreateConversationRequest{OriginConversationId: "ev-1",
		Owner: &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: f.Reps[1].ID}, Channel: openv1.Channel_CHANNEL_CALL,
		BeginTime: e.OccurredAt, DurationMs: 1000})
	wantRPC(t, "conflicting create", err, codes.AlreadyExists, "CONVERSATION_CONFLICT")
	_, err = p.put(conv+1_000_000, transcript(4, "x"), 10)
	wantRPC(t, "transcript of an unknown conversation", err, codes.NotFound, "")
	bad := transcript(4, "bad")
	bad[2].EndMs = bad[2].StartMs - 1
	_, err = p.put(conv, bad, 10)
	wantRPC(t, "invalid transcript", err, codes.InvalidArgument, "")
	all.quiet(t, 1500*time.Millisecond)

	// A transcript: transcript.ready, then tracker.matched with its hits
	// (预算 is in two lines of every six).
	res, err := p.put(conv, transcript(12, "a"), 5)
	if err != nil {
		t.Fatal(err)
	}
	e = all.next(t, 10*time.Second)
	m, _ := e.Data.AsMap()["metrics"].(map[string]any)
	if e.Id != 2 || e.Type != "transcript.ready" || num(e, "conversation_id") != conv || num(e, "transcript_version") != 1 ||
		num(e, "sentence_count") != 12 || m == nil || m["question_count_internal"] != float64(res.Metrics.QuestionCountInternal) ||
		m["talk_ratio"] != res.Metrics.TalkRatio {
		t.Fatalf("transcript event %d %s %v (stored metrics %v)", e.Id, e.Type, e.Data.AsMap(), res.Metrics)
	}
	e = all.next(t, 10*time.Second)
	if e.Id != 3 || e.Type != "tracker.matched" || num(e, "tracker_id") != tr.ID || num(e, "hit_count") != 4 || num(e, "conversation_id") != conv {
		t.Fatalf("tracker event %d %s %v", e.Id, e.Type, e.Data.AsMap())
	}
	if e := ready.next(t, 10*time.Second); e.Id != 2 {
		t.Fatalf("the transcript.ready stream got %d %s", e.Id, e.Type)
	}
	// A second transcript bumps the version.
	if _, err := p.put(conv, transcript(6, "b"), 6); err != nil {
		t.Fatal(err)
	}
	if e := ready.next(t, 10*time.Second); e.Id != 4 || num(e, "transcript_version") != 2 || num(e, "sentence_count") != 6 {
		t.Fatalf("second transcript.ready %d %v", e.Id, e.Data.AsMap())
	}
	all.next(t, 10*time.Second) // 4
	if e := all.next(t, 10*time.Second); e.Id != 5 || num(e, "hit_count") != 2 {
		t.Fatalf("hits of the second transcript: %d %s %v", e.Id, e.Type, e.Data.AsMap())
	}
	// Changing the tracker re-applies it: the conversation's count moves
	// from 2 to 3 ("pricing" is in one more of the six lines).
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/trackers/%d", tr.ID), admin,
		map[string]any{"name": "Budget", "keywords": []string{"预算", "pricing"}}).want(t, http.StatusOK, "")
	e = all.next(t, 20*time.Second)
	if e.Id != 6 || e.Type != "tracker.matched" || num(e, "hit_count") != 3 || num(e, "tracker_id") != tr.ID {
		t.Fatalf("re-application event %d %s %v", e.Id, e.Type, e.Data.AsMap())
	}
	ready.quiet(t, 200*time.Millisecond)

	// HTTP pages carry the same log, for admins; types filter it.
	got := listEvents(t, s, admin, 0, "")
	if len(got) != 6 {
		t.Fatalf("GET /events: %d events, want 6: %+v", len(got), got)
	}
	for i, e := range got {
		if e.ID != int64(i+1) || e.TenantID != f.Tenant.ID {
			t.Fatalf("GET /events[%d] = %+v", i, e)
		}
	}
	if got[1].Type != "transcript.ready" || fmt.Sprint(got[1].Data["sentence_count"]) != "12" {
		t.Fatalf("GET /events[1] = %+v", got[1])
	}
	if r := listEvents(t, s, admin, 1, "&types=tracker.matched,conversation.created"); len(r) != 3 || r[0].ID != 3 || r[2].ID != 6 {
		t.Fatalf("tracker.matched after 1: %+v", r)
	}
	authCall(t, s, http.MethodGet, "/api/v1/events?types=conversation.updated", admin, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodGet, "/api/v1/events?cursor=-1", admin, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodGet, "/api/v1/events?page_size=101", admin, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodGet, "/api/v1/events", f.Token(t, f.Manager), nil).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodGet, "/api/v1/events", "", nil).want(t, http.StatusUnauthorized, "")

	// Scopes and roles on the stream.
	for _, c := range []struct {
		name, token string
		req         *openv1.StreamEventsRequest
		code        codes.Code
	}{
		{"app without read", appWithScopes(t, f, "ingest search"), &openv1.StreamEventsRequest{}, codes.PermissionDenied},
		{"rep", f.Token(t, f.Reps[0]), &openv1.StreamEventsRequest{}, codes.PermissionDenied},
		{"unknown type", appTok, &openv1.StreamEventsRequest{Types: []string{"transcript.done"}}, codes.InvalidArgument},
		{"negative cursor", appTok, &openv1.StreamEventsRequest{Cursor: -5}, codes.InvalidArgument},
	} {
		st := streamEvents(t, conn, c.token, c.req.Cursor, c.req.Types...)
		wantRPC(t, c.name, st.end(t, 10*time.Second), c.code, "")
	}
	// An app with read only streams too, up to events.max_streams_per_app
	// streams at once; and the admin.
	readOnly := appWithScopes(t, f, "read")
	for i := range 4 {
		if e := streamEvents(t, conn, readOnly, int64(i+2)).next(t, 10*time.Second); e.Id != int64(i+3) {
			t.Fatalf("read-only app from %d: %d", i+2, e.Id)
		}
	}
	wantRPC(t, "a fifth stream of one app", streamEvents(t, conn, readOnly, 0).end(t, 10*time.Second), codes.ResourceExhausted, "OVER_CAPACITY")
	if e := streamEvents(t, conn, admin, 0).next(t, 10*time.Second); e.Id != 1 {
		t.Fatalf("admin from 0: %d", e.Id)
	}

	// The other tenant saw nothing of this, and its log counts on its own.
	otherStream.quiet(t, 100*time.Millisecond)
	op := newPartner(t, conn, other.AppToken(t))
	oc := op.create("ev-1", other.Reps[0].ID, begin, 60_000, nil)
	if e := otherStream.next(t, 10*time.Second); e.Id != 1 || e.TenantId != other.Tenant.ID || num(e, "conversation_id") != oc {
		t.Fatalf("other tenant's event %d %d %v", e.Id, e.TenantId, e.Data.AsMap())
	}
	all.quiet(t, 500*time.Millisecond)
	if open := time.Since(opened); open < 6*time.Second {
		all.quiet(t, 6*time.Second-open)
	}
	if r := listEvents(t, s, other.Token(t, other.Admin), 0, ""); len(r) != 1 {
		t.Fatalf("other tenant's admin lists %d events", len(r))
	}

	// Retention: events 1..4 grow old and are trimmed; cursors inside the
	// trimmed stretch are refused on both transports, the edge is not.
	if err := f.DB.Exec("UPDATE events SET occurred_at = ? WHERE tenant_id = ? AND id <= 4", time.Now().UTC().Add(-8*24*time.Hour), f.Tenant.ID).Error; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := authCall(t, s, http.MethodGet, "/api/v1/events?cursor=2", admin, nil)
		if r.Status == http.StatusGone {
			r.want(t, http.StatusGone, "EVENT_CURSOR_EXPIRED")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cursor 2 still answers %d after the events grew old", r.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantRPC(t, "expired cursor", streamEvents(t, conn, appTok, 3).end(t, 10*time.Second), codes.FailedPrecondition, "EVENT_CURSOR_EXPIRED")
	if e := streamEvents(t, conn, appTok, 4).next(t, 10*time.Second); e.Id != 5 {
		t.Fatalf("from the edge: %d", e.Id)
	}
	if e := streamEvents(t, conn, appTok, 0).next(t, 10*time.Second); e.Id != 5 {
		t.Fatalf("from the oldest kept: %d", e.Id)
	}
}

// A cursor names an event of the caller's tenant's log. One above its
// newest event (another tenant's, whose log is longer, or a made-up one)
// is refused on both transports, naming the field: read on, it would
// silently skip every event of this tenant up to that id. The newest
// event's id itself waits for the next one, as before.
func TestEventCursorBeyondTheLogOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	op := newPartner(t, conn, other.AppToken(t))
	for i := range 3 {
		op.create(fmt.Sprintf("cursor-other-%d", i), other.Reps[0].ID, begin, 60_000, nil)
	}
	newPartner(t, conn, f.AppToken(t)).create("cursor-own", f.Reps[0].ID, begin, 60_000, nil)
	otherHead := listEvents(t, s, other.Token(t, other.Admin), 0, "")
	if len(otherHead) != 3 {
		t.Fatalf("the other tenant has %d events, want 3", len(otherHead))
	}
	admin, appTok := f.Token(t, f.Admin), f.AppToken(t)

	for _, cursor := range []int64{otherHead[2].ID, 1 << 62} {
		r := authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/events?cursor=%d", cursor), admin, nil).
			want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if r.Metadata["field"] != "cursor" {
			t.Fatalf("GET /events?cursor=%d: field %q (%s)", cursor, r.Metadata["field"], r.Msg)
		}
		err := streamEvents(t, conn, appTok, cursor).end(t, 10*time.Second)
		wantRPC(t, fmt.Sprintf("StreamEvents from %d", cursor), err, codes.InvalidArgument, "INVALID_ARGUMENT")
		if _, _, md := rpcReason(err); md["field"] != "cursor" {
			t.Fatalf("StreamEvents from %d: metadata %v", cursor, md)
		}
	}
	// The newest event's id is a cursor: nothing yet, then what follows.
	var page controller.EventPageJSON
	authCall(t, s, http.MethodGet, "/api/v1/events?cursor=1", admin, nil).want(t, http.StatusOK, "").decode(t, &page)
	if len(page.Events) != 0 || page.NextCursor != 1 {
		t.Fatalf("GET /events?cursor=1: %+v", page)
	}
	st := streamEvents(t, conn, appTok, 1)
	st.quiet(t, 300*time.Millisecond)
	newPartner(t, conn, appTok).create("cursor-own-2", f.Reps[0].ID, begin, 60_000, nil)
	if e := st.next(t, 10*time.Second); e.Id != 2 || e.TenantId != f.Tenant.ID {
		t.Fatalf("after the newest event: %d of tenant %d", e.Id, e.TenantId)
	}
}

// A reader streams while conversations are created on two instances of one
// MariaDB database; it disconnects and resumes, and its instance is
// upgraded with USR2 under it. Resuming from the last id received, it gets
// every event exactly once, in order. Events written by the other
// instance arrive by the poll.
func TestEventStreamResumesOnMariaDB(t *testing.T) {
	one, two, f := twoInstances(t, mysqlEnv(t), NewService)
	tok := f.AppToken(t)
	writers := []*partner{newPartner(t, one.GRPC(), tok), newPartner(t, two.GRPC(), tok)}

	var created atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		begin := time.Now().UTC().Add(-time.Hour)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// A create that fails in an upgrade is retried: creating is
			// idempotent on the origin id, so it writes one event at most.
			w := writers[i%2]
			req := &openv1.CreateConversationRequest{OriginConversationId: fmt.Sprintf("resume-%d", i),
				Owner: &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: f.Reps[i%4].ID}, Channel: openv1.Channel_CHANNEL_CALL,
				BeginTime: timestamppb.New(begin), DurationMs: 60_000}
			for attempt := 0; ; attempt++ {
				res, err := w.conv.CreateConversation(w.ctx, req)
				if err == nil {
					if res.Created {
						created.Add(1)
					}
					break
				}
				if attempt == 50 {
					t.Errorf("create %s: %v", req.OriginConversationId, err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()

	conn := one.GRPC()
	var got []int64
	receive := func(st *eventStream, n int) error {
		for range n {
			select {
			case e := <-st.events:
				got = append(got, e.Id)
			case err := <-st.done:
				return err
			case <-time.After(15 * time.Second):
				t.Fatalf("no event within 15s after %v", got[max(len(got)-3, 0):])
			}
		}
		return nil
	}
	cursor := func() int64 {
		if len(got) == 0 {
			return 0
		}
		return got[len(got)-1]
	}
	// Disconnect three times by cancelling.
	for range 3 {
		st := streamEvents(t, conn, tok, cursor())
		if err := receive(st, 15); err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		st.cancel()
	}
	// Upgrade instance one under an open stream: the stream ends, and a new
	// one on the new process resumes.
	st := streamEvents(t, conn, tok, cursor())
	if err := receive(st, 10); err != nil {
		t.Fatal(err)
	}
	old := one.Signal(syscall.SIGUSR2)
	var ended error
	for ended == nil {
		ended = receive(st, 1)
	}
	t.Logf("the stream ended by the upgrade: %v", ended)
	if errors.Is(ended, io.EOF) {
		t.Fatal("the upgrade ended the stream as if it were complete (io.EOF), not UNAVAILABLE")
	}
	waitNewPID(t, one, old, 15*time.Second)
	if !WaitGone(old, 30*time.Second) {
		t.Fatalf("old process %d still running", old)
	}
	var st2 *eventStream
	for attempt := 0; ; attempt++ {
		st2 = streamEvents(t, conn, tok, cursor())
		err := receive(st2, 20)
		if err == nil {
			break
		}
		if attempt > 20 {
			t.Fatalf("resuming after the upgrade: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-writerDone
	want := created.Load()
	for int64(len(got)) < want {
		if err := receive(st2, 1); err != nil {
			t.Fatal(err)
		}
	}
	st2.quiet(t, time.Second)
	for i, id := range got {
		if id != int64(i+1) {
			t.Fatalf("event %d of the reader has id %d: %v", i, id, got[max(i-3, 0):min(i+3, len(got))])
		}
	}
	t.Logf("%d events from two instances, received once each in order across 3 disconnects and an upgrade", len(got))
	if !slices.IsSorted(got) || int64(len(got)) != want {
		t.Fatalf("got %d events, %d created", len(got), want)
	}
}

// twoInstances starts two services made by newService on one database
// (env), with a fixture tenant in it.
func twoInstances(t *testing.T, env map[string]string, newService func(*testing.T, map[string]string) *Service) (one, two *Service, f *Fixture) {
	t.Helper()
	one = newService(t, env)
	f = NewFixture(t, one)
	two = newService(t, env)
	one.Start()
	two.Start()
	return one, two, f
}

// A stream of some types reads on past the events of the other types, as
// they commit: it does not read them again at every new event (and a page
// of some types gives the cursor past them, likewise). So when
// retention trims the events after the last one it sent, all of them of
// other types and already read, the open stream goes on, and sends the
// next event of its types; it does not end with EVENT_CURSOR_EXPIRED, which
// would tell its client that it missed events when it missed none.
func TestEventStreamOfSomeTypesOutlivesTheTrimOfOthersOnMariaDB(t *testing.T) {
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_EVENTS_TRIM_INTERVAL"] = "300ms"
	f := NewFixture(t, s)
	s.Start()
	conn, appTok, admin := s.GRPC(), f.AppToken(t), f.Token(t, f.Admin)
	p := newPartner(t, conn, appTok)

	// Event 1, conversation.created, and event 2, transcript.ready.
	conv := p.create("typed-0", f.Reps[0].ID, begin, 60_000, nil)
	if _, err := p.put(conv, transcript(4, "first"), 10); err != nil {
		t.Fatal(err)
	}
	ready := streamEvents(t, conn, appTok, 0, "transcript.ready")
	if e := ready.next(t, 10*time.Second); e.Id != 2 || e.Type != "transcript.ready" {
		t.Fatalf("first event %d %s", e.Id, e.Type)
	}
	all := streamEvents(t, conn, appTok, 2)
	for i := 1; i <= 3; i++ { // events 3..5, which the typed stream reads past
		p.create(fmt.Sprintf("typed-%d", i), f.Reps[0].ID, begin, 60_000, nil)
		if e := all.next(t, 10*time.Second); e.Id != int64(i+2) {
			t.Fatalf("event %d, want %d", e.Id, i+2)
		}
	}
	ready.quiet(t, time.Second)
	// A page of those types reads past the others as well.
	var page controller.EventPageJSON
	authCall(t, s, http.MethodGet, "/api/v1/events?cursor=2&types=transcript.ready", admin, nil).want(t, http.StatusOK, "").decode(t, &page)
	if len(page.Events) != 0 || page.NextCursor != 5 {
		t.Fatalf("a page of transcript.ready after 2: %d events, next_cursor %d, want none and 5", len(page.Events), page.NextCursor)
	}

	// Events 1..4 grow old and are trimmed: every one after event 2, the
	// last the typed stream sent, is of another type.
	if err := f.DB.Exec("UPDATE events SET occurred_at = ? WHERE tenant_id = ? AND id <= 4", time.Now().UTC().Add(-8*24*time.Hour), f.Tenant.ID).Error; err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 15*time.Second, 100*time.Millisecond, "events 1..4 trimmed", func() bool {
		return authCall(t, s, http.MethodGet, "/api/v1/events?cursor=2", admin, nil).Status == http.StatusGone
	})
	p.create("typed-4", f.Reps[0].ID, begin, 60_000, nil) // event 6 wakes the stream
	ready.quiet(t, time.Second)
	if _, err := p.put(conv, transcript(5, "second"), 10); err != nil { // event 7
		t.Fatal(err)
	}
	if e := ready.next(t, 10*time.Second); e.Id != 7 || e.Type != "transcript.ready" || num(e, "conversation_id") != conv {
		t.Fatalf("next event %d %s %v, want 7 transcript.ready", e.Id, e.Type, e.Data.AsMap())
	}
	ready.quiet(t, 500*time.Millisecond)
}
