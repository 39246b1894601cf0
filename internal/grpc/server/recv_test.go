package server

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
)

// silentClient is a client stream whose messages come from sent; a receive
// with none waiting blocks until the stream ends (end is closed), as
// grpc-go's Recv does.
type silentClient struct {
	sent  chan int
	end   chan struct{}
	asked chan struct{} // one per receive begun
}

func newSilentClient() *silentClient {
	return &silentClient{sent: make(chan int, 8), end: make(chan struct{}), asked: make(chan struct{}, 8)}
}

func (c *silentClient) Recv() (int, error) {
	c.asked <- struct{}{}
	select {
	case m, ok := <-c.sent:
		if !ok {
			return 0, io.EOF
		}
		return m, nil
	case <-c.end:
		return 0, errors.New("the stream ended")
	}
}

// A stream whose client sends nothing ends with the token's revocation
// within a recheck or two, though the receive is still blocked; the
// messages sent before came through in order, each received only when
// asked for.
func TestAStalledStreamEndsWithItsTokensRevocation(t *testing.T) {
	token := accesstest.NewToken(time.Now().Add(time.Hour))
	ctx := access.WithCredential(context.Background(), token)
	c := newSilentClient()
	w := watchRecv(ctx, c.Recv, 10*time.Millisecond)
	c.sent <- 1
	c.sent <- 2
	for want := 1; want <= 2; want++ {
		if got, err := w.next(); err != nil || got != want {
			t.Fatalf("message %d: got %d, %v", want, got, err)
		}
	}
	if n := len(c.asked); n != 2 {
		t.Fatalf("%d receives for 2 messages taken: the watch read ahead", n)
	}
	// The client stalls; the token stays good for a while, then is revoked.
	got := make(chan error, 1)
	go func() {
		_, err := w.next()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a stalled stream with a good token ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	token.Revoke()
	revoked := time.Now()
	select {
	case err := <-got:
		if !errs.Is(err, errs.ReasonTokenRevoked) {
			t.Fatalf("the stalled stream ended with %v, want TOKEN_REVOKED", err)
		}
		t.Logf("the stalled stream ended %v after its token was revoked", time.Since(revoked).Round(time.Millisecond))
	case <-time.After(time.Second):
		t.Fatal("the stalled stream still waits a second after its token was revoked")
	}
	// The handler returns, the stream ends, and the receive with it.
	w.stop()
	close(c.end)
}

// A stalled stream ends at its deadline, as the client's own lateness.
func TestAStalledStreamEndsAtItsDeadline(t *testing.T) {
	ctx := access.WithCredential(context.Background(), accesstest.NewToken(time.Now().Add(time.Hour)))
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	c := newSilentClient()
	defer close(c.end)
	w := watchRecv(ctx, c.Recv, time.Hour)
	defer w.stop()
	_, err := w.next()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	if e := errs.From(clientLate(ctx, err)); e.Reason != errs.ReasonClientTimeout {
		t.Fatalf("worded %s, want CLIENT_TIMEOUT", e.Reason)
	}
}

// The end of the client's messages and a failed receive come through as
// they are.
func TestAWatchedStreamEndsAsItsClientEndsIt(t *testing.T) {
	ctx := access.WithCredential(context.Background(), accesstest.NewToken(time.Now().Add(time.Hour)))
	c := newSilentClient()
	w := watchRecv(ctx, c.Recv, time.Hour)
	defer w.stop()
	c.sent <- 7
	close(c.sent)
	if got, err := w.next(); err != nil || got != 7 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := w.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want EOF", err)
	}
}

// BenchmarkWatchedRecv is what the watch costs a message received; the
// direct receive is the baseline.
func BenchmarkWatchedRecv(b *testing.B) {
	ctx := access.WithCredential(context.Background(), accesstest.NewToken(time.Now().Add(time.Hour)))
	recv := func() (int, error) { return 1, nil }
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			_, _ = recv()
		}
	})
	b.Run("watched", func(b *testing.B) {
		w := watchRecv(ctx, recv, revocationRecheck)
		defer w.stop()
		for b.Loop() {
			_, _ = w.next()
		}
	})
}

// TestAStalledStreamOutlivesAnUnreadableFleet: while this instance cannot
// read the fleet's revocations (the database out of reach), a stream
// waiting for its client goes on waiting, and loses nothing it holds; a
// revocation it knows of still ends it.
func TestAStalledStreamOutlivesAnUnreadableFleet(t *testing.T) {
	token := accesstest.NewToken(time.Now().Add(time.Hour))
	token.Stale(true)
	ctx := access.WithCredential(context.Background(), token)
	c := newSilentClient()
	w := watchRecv(ctx, c.Recv, 10*time.Millisecond)
	defer w.stop()
	got := make(chan error, 1)
	go func() {
		_, err := w.next()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a stalled stream ended while the revocations could not be read: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	token.Revoke()
	select {
	case err := <-got:
		if !errs.Is(err, errs.ReasonTokenRevoked) {
			t.Fatalf("the stalled stream ended with %v, want TOKEN_REVOKED", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the stalled stream still waits a second after its token was revoked")
	}
	close(c.end)
}
