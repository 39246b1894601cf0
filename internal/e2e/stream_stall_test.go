//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// stalledStream opens an event stream with token from the start of the
// log on a connection whose HTTP/2 windows stay at 64 KiB, takes one
// event and reads no more: the server's sends block once the windows are
// full.
func stalledStream(t *testing.T, s *Service, token string) {
	t.Helper()
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(s.TLSConfig(false))),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token))
	t.Cleanup(cancel)
	st, err := openv1.NewEventServiceClient(conn).StreamEvents(ctx, &openv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("the stalled stream's first event: %v", err)
	}
}

// waitStreams opens streams with token until one is accepted, and returns
// how long after since that took; past within it fails the test.
func waitStreams(t *testing.T, conn *grpc.ClientConn, token string, since time.Time, within time.Duration, what string) time.Duration {
	t.Helper()
	for {
		st := streamEvents(t, conn, token, 0)
		select {
		case <-st.events:
			st.cancel()
			took := time.Since(since)
			t.Logf("%s: a new stream was accepted %v after", what, took.Round(time.Millisecond))
			return took
		case err := <-st.done:
			wantRPC(t, what+": a new stream", err, codes.ResourceExhausted, "OVER_CAPACITY")
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: a new stream neither sent an event nor ended", what)
		}
		if time.Since(since) > within {
			t.Fatalf("%s: new streams still refused %v after", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An event stream whose client stops reading gives back its slot: within
// the revocation deadline when its app is disabled, and after
// events.send_timeout when nothing happens; and one tenant's apps hold no
// more than events.max_streams_per_tenant streams, leaving the rest to
// other tenants.
func TestEventStreamThatStopsReadingGivesBackItsSlot(t *testing.T) {
	const sendTimeout = 3 * time.Second
	s := NewService(t, map[string]string{
		"MGV_EVENTS_MAX_STREAMS_PER_APP":    "1",
		"MGV_EVENTS_MAX_STREAMS_PER_TENANT": "2",
		"MGV_EVENTS_MAX_STREAMS":            "4",
		"MGV_EVENTS_SEND_TIMEOUT":           sendTimeout.String(),
		"MGV_RATELIMIT_ENABLED":             "false",
		"MGV_LOG_LEVEL":                     "warn",
	})
	f, other := NewFixture(t, s), NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	admin := f.Token(t, f.Admin)
	// 600 conversation.created events of about 250 bytes: far more than
	// the stalled client's 64 KiB windows take.
	p := newPartner(t, conn, f.AppToken(t))
	for i := range 600 {
		origin := fmt.Sprintf("stall-%03d-", i) + strings.Repeat("x", 118)
		p.create(origin, f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	}
	c := newAppClient(t, s)
	newApp := func(name string) (controller.AppSecretJSON, string) { return c.readerApp(s, admin, name) }

	// Revoked while a send blocks: the slot is free within the deadline.
	a, tokenA := newApp("stalls-then-disabled")
	stalledStream(t, s, tokenA)
	time.Sleep(time.Second)
	wantRPC(t, "a second stream of the stalled app", streamEvents(t, conn, tokenA, 0).end(t, 5*time.Second), codes.ResourceExhausted, "OVER_CAPACITY")
	at := time.Now()
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/disable", a.ID), admin, nil).want(t, http.StatusOK, "")
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/enable", a.ID), admin, nil).want(t, http.StatusOK, "")
	waitStreams(t, conn, c.mustToken(a.AppKey, a.AppSecret), at, revocationDeadline, "stalled stream, app disabled")

	// Nothing happens: the slot is free after the send timeout.
	_, tokenB := newApp("stalls")
	stalledStream(t, s, tokenB)
	at = time.Now()
	if took := waitStreams(t, conn, tokenB, at, sendTimeout+3*time.Second, "stalled stream, send timeout"); took < sendTimeout-time.Second {
		t.Fatalf("the stalled stream's slot was free after %v, before the send timeout of %v", took, sendTimeout)
	}

	// Two apps of one tenant take its two slots; a third app of the same
	// tenant is refused, another tenant's app is not.
	for _, name := range []string{"holds-1", "holds-2"} {
		_, tok := newApp(name)
		streamEvents(t, conn, tok, 0).next(t, 5*time.Second)
	}
	_, third := newApp("third")
	wantRPC(t, "a third app of a tenant at its cap", streamEvents(t, conn, third, 0).end(t, 5*time.Second), codes.ResourceExhausted, "OVER_CAPACITY")
	otherStream := streamEvents(t, conn, other.AppToken(t), 0)
	select {
	case err := <-otherStream.done:
		if c, _, _ := rpcReason(err); c == codes.ResourceExhausted {
			t.Fatalf("another tenant's stream was refused by the first tenant's streams: %v", err)
		}
	case <-time.After(2 * time.Second): // open, waiting for its tenant's events
	}
}
