package interceptor_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/megaview/mgvcore/internal/grpc/interceptor"
	"github.com/megaview/mgvcore/internal/policy"
)

// Headers the policies set reach grpc-go's stream: those set before the
// handler by the time it runs (so a handler that sends its header early
// still carries them), and those set after it (a refusal's Retry-After)
// once the chain returns.
func TestUnaryHeadersReachTheStream(t *testing.T) {
	setting := func(key, value string) policy.Middleware {
		return func(next policy.Handler) policy.Handler {
			return func(ctx context.Context, req any) (any, error) {
				policy.InfoFrom(ctx).SetHeader(key, value)
				return next(ctx, req)
			}
		}
	}
	refusing := func(next policy.Handler) policy.Handler {
		return func(ctx context.Context, req any) (any, error) {
			resp, err := next(ctx, req)
			policy.InfoFrom(ctx).SetHeader(policy.HeaderRetryAfter, "3")
			return resp, errors.Join(err, errors.New("refused"))
		}
	}
	unary := interceptor.Unary(policy.Chain(setting(policy.HeaderRequestID, "rid-1"), refusing, setting("X-Trace-Id", "tid-1")), nil)

	stream := &headerStream{}
	ctx := grpc.NewContextWithServerTransportStream(context.Background(), stream)
	var atHandler metadata.MD
	_, err := unary(ctx, struct{}{}, &grpc.UnaryServerInfo{FullMethod: "/mgv.open.v1.SystemService/Ping"},
		func(context.Context, any) (any, error) {
			atHandler = stream.md.Copy()
			return "pong", nil
		})
	if err == nil {
		t.Fatal("the refusal was lost")
	}
	if got := atHandler.Get("x-request-id"); len(got) != 1 || got[0] != "rid-1" {
		t.Errorf("x-request-id at the handler = %v, want [rid-1]", got)
	}
	if got := atHandler.Get("x-trace-id"); len(got) != 1 || got[0] != "tid-1" {
		t.Errorf("x-trace-id at the handler = %v, want [tid-1]", got)
	}
	if got := atHandler.Get("retry-after"); len(got) != 0 {
		t.Errorf("retry-after at the handler = %v, want none yet", got)
	}
	want := map[string]string{"x-request-id": "rid-1", "x-trace-id": "tid-1", "retry-after": "3"}
	for k, v := range want {
		if got := stream.md.Get(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s after the call = %v, want [%s]", k, got, v)
		}
	}
}
