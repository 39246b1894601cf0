package policy

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/megaview/mgvcore/internal/errs"
)

// StatusClientClosed is the status of a call whose client went away before
// its answer was written, as nginx logs it. No client ever receives it.
const StatusClientClosed = 499

// ClientGone rewords err as 499 CANCELED when it is the client going away
// rather than a failure of the server: ctx was canceled (the connection
// closed or the call was canceled; a deadline is DeadlineExceeded, not
// this), or writing the answer failed on a connection the peer closed.
// Other errors, and nil, come back as they are.
func ClientGone(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) && (e.Status == StatusClientClosed || e.Reason == errs.ReasonClientTimeout) {
		// Already said, or the client was too slow, which it hears.
		return err
	}
	if errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled) || peerClosed(err) {
		return errs.New(StatusClientClosed, errs.ReasonCanceled, "the client closed the connection").WithCause(err)
	}
	return err
}

// peerClosed tells a write or read on a connection the peer closed or reset.
func peerClosed(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}
