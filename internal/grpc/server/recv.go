package server

import (
	"context"
	"time"

	"github.com/megaview/mgvcore/internal/logic/access"
)

// revocationRecheck is how often a client stream asks its token again
// while it waits for the client's next message: with the revocations' own
// poll, a stream whose token is revoked on any instance ends within a few
// seconds, as a new call is refused.
const revocationRecheck = time.Second

// watchedRecv receives a client stream's messages on a goroutine of its
// own, one per stream, while the handler waits for each and asks the
// call's token every interval meanwhile. A client that stops sending
// leaves grpc-go's Recv blocked, where nothing is asked until the stream's
// deadline: the handler returns instead, with the refusal a new call with
// the token would get (TOKEN_REVOKED), which ends the stream and so
// unblocks the receive, and gives back what the stream held (its slots,
// its buffered bytes) at once. The stream's deadline ends the wait too.
// A message is received only when the handler asks for it, so nothing is
// read ahead of what the handler has taken in.
type watchedRecv[M any] struct {
	ctx  context.Context
	recv func() (M, error)
	ask  chan struct{}
	got  chan received[M]
	done chan struct{}
	tick *time.Ticker
}

type received[M any] struct {
	msg M
	err error
}

// watchRecv watches the receives of the stream ctx is the context of; a
// call without a token is not watched, and receives on its handler's
// goroutine. stop must be called once the handler no longer receives.
func watchRecv[M any](ctx context.Context, recv func() (M, error), interval time.Duration) *watchedRecv[M] {
	w := &watchedRecv[M]{ctx: ctx, recv: recv}
	if access.CredentialFrom(ctx) == nil {
		return w
	}
	w.ask, w.got, w.done = make(chan struct{}, 1), make(chan received[M]), make(chan struct{})
	w.tick = time.NewTicker(interval)
	go w.receive()
	return w
}

// receive runs Recv each time the handler asks, until the handler stops
// or a receive fails (the end of the client's messages or of the stream).
func (w *watchedRecv[M]) receive() {
	for {
		select {
		case <-w.ask:
		case <-w.done:
			return
		}
		msg, err := w.recv()
		select {
		case w.got <- received[M]{msg, err}:
		case <-w.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// next is the stream's next message or the receive's error; or, while the
// client sends nothing, the token's revocation, or the context's end once
// the stream's deadline has passed or the client has gone.
func (w *watchedRecv[M]) next() (M, error) {
	if w.got == nil {
		return w.recv()
	}
	w.ask <- struct{}{}
	var zero M
	for {
		select {
		case r := <-w.got:
			return r.msg, r.err
		case <-w.tick.C:
			// By what this instance knows: a database out of reach for a
			// while ends no upload that waits for its client (a message
			// that arrives meanwhile is refused as a new call would be).
			if err := access.KnownRevoked(w.ctx); err != nil {
				return zero, err
			}
		case <-w.ctx.Done():
			return zero, w.ctx.Err()
		}
	}
}

// stop ends the watch; a receive still blocked ends with the stream, once
// the handler has returned.
func (w *watchedRecv[M]) stop() {
	if w.done == nil {
		return
	}
	close(w.done)
	w.tick.Stop()
}
