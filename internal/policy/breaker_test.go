package policy

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/errs"
)

func newBreakers(t *testing.T) *breaker.Registry {
	t.Helper()
	reg, err := breaker.NewRegistry(config.Breaker{
		Enabled:         true,
		FailureRate:     0.5,
		MinSamples:      10,
		ConsecutiveFail: 3,
		Window:          config.Duration{Duration: 10 * time.Second},
		Cooldown:        config.Duration{Duration: time.Minute},
	}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestBreakerPolicy(t *testing.T) {
	const get, search = "/mgv.open.v1.ConversationService/GetConversation", "/mgv.open.v1.SearchService/Search"
	cases := []struct {
		name     string
		err      error
		wantOpen bool
	}{
		{"success", nil, false},
		{"not found", errs.NotFound("CONVERSATION_NOT_FOUND", "none"), false},
		{"validation", errs.InvalidArgument("page_size", "too big"), false},
		{"canceled", context.Canceled, false},
		{"dependency down", errs.Unavailable(breaker.MySQL), true},
		{"timeout", context.DeadlineExceeded, true},
		{"internal", errors.New("boom"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := newBreakers(t)
			calls := 0
			h := Chain(Breaker(reg))(func(ctx context.Context, _ any) (any, error) {
				calls++
				if InfoFrom(ctx).Operation == search {
					return "found", nil
				}
				return "conversation", tc.err
			})
			do := func(op string) (any, error) {
				info, _ := callInfo(op, Caller{TenantID: "t"})
				return h(WithInfo(context.Background(), info), nil)
			}
			for range 3 { // consecutive_failures
				resp, err := do(get)
				if resp != "conversation" || err != tc.err {
					t.Fatalf("the handler's answer did not pass through: %v %v", resp, err)
				}
			}
			if open := reg.Get(get).State() == breaker.Open; open != tc.wantOpen {
				t.Fatalf("after 3 × %s: state %s", tc.name, reg.Get(get).State())
			}
			if !tc.wantOpen {
				return
			}
			before := calls
			_, err := do(get)
			e := errs.From(err)
			if calls != before || e.Status != http.StatusServiceUnavailable || e.Reason != errs.ReasonDependencyUnavailable {
				t.Fatalf("open breaker: handler ran %t, answered %v", calls != before, err)
			}
			if code := status.Code(err); code != codes.Unavailable {
				t.Errorf("gRPC code %s, want Unavailable", code)
			}
			if resp, err := do(search); err != nil || resp != "found" {
				t.Errorf("another operation was refused too: %v %v", resp, err)
			}
		})
	}
}

func TestBreakerPolicyOff(t *testing.T) {
	if Breaker(nil) != nil {
		t.Fatal("a nil registry must give no middleware, so Chain skips it")
	}
}
