package render

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/policy"
)

// cutBody gives part of a body, then fails with err: past the
// connection's read deadline, or reset by the peer.
type cutBody struct {
	err  error
	sent bool
}

func (b *cutBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, `{"query": `), nil
	}
	return 0, b.err
}

func (b *cutBody) Close() error { return nil }

func cutRequest(ctx context.Context, err error) echo.Context {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/search", nil).WithContext(ctx)
	req.Body, req.ContentLength = &cutBody{err: err}, 100
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	return echo.New().NewContext(req, httptest.NewRecorder())
}

// A body cut by the read deadline is 408 CLIENT_TIMEOUT, though net/http
// has canceled the request's context by then, and ClientGone keeps it; a
// body the client reset is still 499.
func TestDecodeJSONBodyPastTheReadDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var v decodeBody
	err := DecodeJSON(cutRequest(ctx, os.ErrDeadlineExceeded), &v)
	e := errs.From(err)
	if e.Status != http.StatusRequestTimeout || e.Reason != errs.ReasonClientTimeout || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a body past the read deadline: %d %s (%v), want 408 CLIENT_TIMEOUT", e.Status, e.Reason, err)
	}
	if kept := policy.ClientGone(ctx, err); kept != err {
		t.Errorf("ClientGone turned a slow client into %v", kept)
	}

	if e := errs.From(DecodeJSON(cutRequest(ctx, syscall.ECONNRESET), &v)); e.Status != policy.StatusClientClosed {
		t.Errorf("a body the client reset: %d %s, want 499", e.Status, e.Reason)
	}
}
