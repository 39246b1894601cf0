package policy

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/audit"
)

// recorded keeps the records given to it.
type recorded []audit.Record

func (r *recorded) Record(_ context.Context, rec audit.Record) { *r = append(*r, rec) }

// paramCarrier adds path parameters and a status to mapCarrier.
type paramCarrier struct {
	mapCarrier
	params map[string]string
	status int
}

func (p paramCarrier) Param(name string) string { return p.params[name] }
func (p paramCarrier) SuccessStatus() int       { return p.status }

func TestAuditRecordsByTheTable(t *testing.T) {
	rules := map[string]AuditRule{
		"/mgv.web.v1.T/Update": {Name: "thing.update", TargetType: "thing", TargetParams: []string{"id", "thing_id"}},
		"/mgv.web.v1.T/Login":  {Name: "auth.login", TargetType: "user", Anonymous: true},
		"/mgv.web.v1.T/Create": {Name: "thing.create", TargetType: "thing"},
		"/mgv.web.v1.T/Get":    {},
	}
	call := func(op string, caller Caller, params map[string]string, status int, h Handler) recorded {
		var rec recorded
		info := &Info{Operation: op, ClientIP: "203.0.113.9", Carrier: paramCarrier{
			mapCarrier: mapCarrier{in: map[string]string{}, out: map[string]string{}}, params: params, status: status}}
		info.SetRequestID("req-7")
		info.SetCaller(caller)
		_, _ = Audit(&rec, rules)(h)(WithInfo(context.Background(), info), nil)
		return rec
	}
	user := Caller{TenantID: "4", UserID: "9"}
	app := Caller{TenantID: "4", AppID: "2"}

	got := call("/mgv.web.v1.T/Update", user, map[string]string{"thing_id": "77"}, http.StatusOK, ok)
	want := audit.Record{TenantID: 4, ActorKind: "user", ActorID: 9, ClientAddr: "203.0.113.9", Operation: "thing.update",
		TargetType: "thing", TargetID: "77", Result: "ok", RequestID: "req-7"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("update by a user: %+v, want %+v", got, want)
	}
	denied := func(context.Context, any) (any, error) { return nil, errs.Forbidden("no") }
	if got := call("/mgv.web.v1.T/Update", app, map[string]string{"id": "5"}, 0, denied); len(got) != 1 ||
		got[0].Result != errs.ReasonPermissionDenied || got[0].ActorKind != "app" || got[0].ActorID != 2 || got[0].TargetID != "5" {
		t.Fatalf("refused update by an app: %+v", got)
	}
	// A plain read and an unknown operation leave nothing.
	if got := call("/mgv.web.v1.T/Get", user, nil, http.StatusOK, ok); len(got) != 0 {
		t.Fatalf("a read was audited: %+v", got)
	}
	if got := call("/mgv.web.v1.T/Other", user, nil, http.StatusOK, ok); len(got) != 0 {
		t.Fatalf("an operation outside the table was audited: %+v", got)
	}
	// Without a caller: recorded only for sign-ins, with the user the
	// sign-in noted.
	if got := call("/mgv.web.v1.T/Update", Caller{}, nil, 0, denied); len(got) != 0 {
		t.Fatalf("an anonymous write was charged to no tenant: %+v", got)
	}
	signIn := func(ctx context.Context, _ any) (any, error) {
		audit.Actor(ctx, 4, audit.ActorUser, 11)
		audit.Target(ctx, "user", "11")
		return nil, errs.Unauthenticated("wrong password")
	}
	if got := call("/mgv.web.v1.T/Login", Caller{}, nil, 0, signIn); len(got) != 1 || got[0].TenantID != 4 || got[0].ActorID != 11 ||
		got[0].TargetID != "11" || got[0].Result != errs.ReasonUnauthenticated || got[0].RequestID != "req-7" {
		t.Fatalf("a failed sign-in: %+v", got)
	}
	if got := call("/mgv.web.v1.T/Login", Caller{}, nil, 0, denied); len(got) != 1 || got[0].ActorKind != "anonymous" || got[0].TenantID != 0 {
		t.Fatalf("a sign-in refused before its account was found: %+v", got)
	}
	// A use case names what it created; a handler that wrote an error
	// status itself is not ok.
	create := func(ctx context.Context, _ any) (any, error) { audit.Target(ctx, "thing", "42"); return nil, nil }
	if got := call("/mgv.web.v1.T/Create", user, nil, http.StatusCreated, create); len(got) != 1 || got[0].TargetID != "42" || got[0].Result != "ok" {
		t.Fatalf("create: %+v", got)
	}
	if got := call("/mgv.web.v1.T/Create", user, nil, http.StatusConflict, ok); len(got) != 1 || got[0].Result != "409" {
		t.Fatalf("a written error status: %+v", got)
	}
}

// discard is a store that keeps nothing.
type discard struct{}

func (discard) Append(context.Context, []audit.Record) error { return nil }

// BenchmarkAuditRequestPath is what an audited call pays on its own path:
// the policy, the record and its queueing (the batches are written by the
// writer's goroutine, to a store that keeps nothing here).
func BenchmarkAuditRequestPath(b *testing.B) {
	w := audit.NewWriter(discard{}, zerolog.Nop(), audit.WriterOptions{})
	w.Start()
	defer w.Stop(context.Background())
	h := Audit(w, map[string]AuditRule{"/mgv.open.v1.Test/Do": {Name: "test.do", Anonymous: true}})(ok)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		info, _ := testInfo(map[string]string{})
		info.ClientIP = "203.0.113.9"
		info.SetRequestID("req-1234567890")
		info.SetCaller(Caller{TenantID: "4", UserID: "9"})
		ctx := WithInfo(context.Background(), info)
		for pb.Next() {
			_, _ = h(ctx, nil)
		}
	})
}

// TestAuditRecordsAPanickingCall: a handler that panics (after writing,
// perhaps) leaves its record, INTERNAL, with the target it noted; the
// panic goes on to Recover, which answers INTERNAL.
func TestAuditRecordsAPanickingCall(t *testing.T) {
	var rec recorded
	rules := map[string]AuditRule{"/mgv.web.v1.T/Delete": {Name: "thing.delete", TargetType: "thing", TargetParams: []string{"id"}}}
	info := &Info{Operation: "/mgv.web.v1.T/Delete", ClientIP: "203.0.113.9", Carrier: paramCarrier{
		mapCarrier: mapCarrier{in: map[string]string{}, out: map[string]string{}}, params: map[string]string{"id": "31"}, status: http.StatusNoContent}}
	info.SetRequestID("req-8")
	info.SetCaller(Caller{TenantID: "4", UserID: "9"})
	var logged bytes.Buffer
	_, err := Chain(Recover(zerolog.New(&logged)), Audit(&rec, rules))(panickingHandler)(WithInfo(context.Background(), info), nil)
	if !errs.Is(err, errs.ReasonInternal) {
		t.Fatalf("the call answered %v, want INTERNAL", err)
	}
	// The audit policy does not recover the panic: Recover logs the
	// stack of where it happened.
	if !strings.Contains(logged.String(), "panickingHandler") {
		t.Errorf("Recover's log does not show where the handler panicked:\n%s", logged.String())
	}
	want := audit.Record{TenantID: 4, ActorKind: "user", ActorID: 9, ClientAddr: "203.0.113.9", Operation: "thing.delete",
		TargetType: "thing", TargetID: "31", Result: errs.ReasonInternal, RequestID: "req-8"}
	if len(rec) != 1 || rec[0] != want {
		t.Fatalf("records of a panicking call: %+v, want %+v", rec, want)
	}
}

// tokenAuth authenticates "good", and refuses "revoked" naming its caller
// (a genuine token whose account was disabled) and anything else naming
// none (a forged or expired token).
type tokenAuth struct{ caller Caller }

func (a tokenAuth) Authenticate(ctx context.Context, token string) (context.Context, Caller, error) {
	switch token {
	case "good":
		return ctx, a.caller, nil
	case "revoked":
		return ctx, a.caller, errs.Of(errs.ReasonTokenRevoked, "this token was revoked: the account was disabled")
	case "unchecked":
		return ctx, Caller{}, errs.Unavailable("database")
	}
	return ctx, Caller{}, errs.Unauthenticated("invalid token")
}

// TestAuditChargesARevokedTokensCallToItsCaller: a write sent with a
// genuine token that was revoked (a disabled user, a deleted app) is
// refused and recorded, charged to the token's caller with the reason; a
// token that names no one (forged, expired) leaves no record.
func TestAuditChargesARevokedTokensCallToItsCaller(t *testing.T) {
	rules := map[string]AuditRule{"/mgv.open.v1.Test/Do": {Name: "thing.delete", TargetType: "thing", TargetParams: []string{"id"}}}
	for _, c := range []Caller{{TenantID: "4", UserID: "9", Role: "admin"}, {TenantID: "4", AppID: "2", Role: "app"}} {
		call := func(token string) (recorded, error) {
			var rec recorded
			info := &Info{Operation: "/mgv.open.v1.Test/Do", ClientIP: "203.0.113.9", Carrier: paramCarrier{
				mapCarrier: mapCarrier{in: map[string]string{"Authorization": "Bearer " + token}, out: map[string]string{}},
				params:     map[string]string{"id": "31"}, status: http.StatusNoContent}}
			info.SetRequestID("req-9")
			ran := false
			h := Chain(Audit(&rec, rules), Auth(tokenAuth{caller: c}, nil, nil))(func(context.Context, any) (any, error) { ran = true; return nil, nil })
			_, err := h(WithInfo(context.Background(), info), nil)
			if ran != (token == "good") {
				t.Fatalf("token %q: handler ran %v", token, ran)
			}
			return rec, err
		}
		kind, id := "user", int64(9)
		if c.AppID != "" {
			kind, id = "app", 2
		}
		got, err := call("revoked")
		want := audit.Record{TenantID: 4, ActorKind: kind, ActorID: id, ClientAddr: "203.0.113.9", Operation: "thing.delete",
			TargetType: "thing", TargetID: "31", Result: errs.ReasonTokenRevoked, RequestID: "req-9"}
		if !errs.Is(err, errs.ReasonTokenRevoked) || len(got) != 1 || got[0] != want {
			t.Fatalf("a revoked token of a %s: %v %+v, want %+v", kind, err, got, want)
		}
		if got, err := call("forged"); !errs.Is(err, errs.ReasonUnauthenticated) || len(got) != 0 {
			t.Fatalf("a token naming no one: %v %+v", err, got)
		}
		if got, _ := call("good"); len(got) != 1 || got[0].Result != audit.ResultOK || got[0].ActorID != id {
			t.Fatalf("a good token of a %s: %+v", kind, got)
		}
	}
}

func panickingHandler(context.Context, any) (any, error) { panic("index out of range") }

// A refused call (no token, a revoked one, a forged one) spends its client
// address's budget before it is answered: over it the answer is 429, and
// that refusal leaves no audit record, while the revoked token's tenant
// keeps its own budget. Before, such calls were answered 401 as fast as
// they came, never limited, each revoked one an audit record.
func TestRefusedCallsSpendTheirAddressesBudget(t *testing.T) {
	const op = "/mgv.open.v1.Test/Do"
	rules := map[string]AuditRule{op: {Name: "thing.delete", TargetType: "thing"}}
	caller := Caller{TenantID: "4", UserID: "9", Role: "admin", Tier: "standard"}
	l := newLimiter(t) // 1/s, burst 1, for an address and for a tenant alike
	var rec recorded
	h := Chain(Audit(&rec, rules), Auth(tokenAuth{caller: caller}, nil, l), RateLimit(l))(func(context.Context, any) (any, error) { return "served", nil })
	call := func(token, addr string) error {
		info := &Info{Operation: op, Transport: GRPC, ClientIP: addr, Carrier: mapCarrier{in: map[string]string{"Authorization": "Bearer " + token}, out: map[string]string{}}}
		if token == "" {
			info.Carrier = mapCarrier{in: map[string]string{}, out: map[string]string{}}
		}
		// No deadline: a gRPC refusal that waited for its turn would be
		// admitted a second later, and answered 401; it waits at most
		// grpcRefusalWait, then 429.
		_, err := h(WithInfo(context.Background(), info), nil)
		return err
	}
	for _, token := range []string{"revoked", "", "forged"} {
		addr := "198.51.100." + strconv.Itoa(len(token)+1)
		first, second := call(token, addr), call(token, addr)
		if errs.ReasonOf(first) == errs.ReasonRateLimited || errs.ReasonOf(second) != errs.ReasonRateLimited {
			t.Errorf("token %q: the first refusal %v, the second at once %v; want 401-like, then 429", token, first, second)
		}
	}
	if n := len(rec); n != 1 || rec[0].Result != errs.ReasonTokenRevoked {
		t.Errorf("audit records: %+v; want the first revoked call's alone", rec)
	}
	// Over HTTP a refusal waits in its address's queue, as an anonymous
	// call does: past its deadline there, 429.
	httpCall := func(timeout time.Duration) error {
		info := &Info{Operation: op, Transport: HTTP, ClientIP: "198.51.100.20", Carrier: mapCarrier{in: map[string]string{}, out: map[string]string{}}}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := h(WithInfo(ctx, info), nil)
		return err
	}
	if first, second := httpCall(time.Second), httpCall(20*time.Millisecond); errs.ReasonOf(first) != errs.ReasonUnauthenticated || errs.ReasonOf(second) != errs.ReasonRateLimited {
		t.Errorf("over HTTP: %v, then %v; want 401, then 429 once the wait passes the deadline", first, second)
	}
	if err := call("good", "198.51.100.8"); err != nil {
		t.Errorf("the revoked token's tenant, from another address: %v; its budget is its own", err)
	}
	// An instance that cannot check tokens (503) charges nothing: its
	// callers did nothing wrong.
	for range 3 {
		if err := call("unchecked", "198.51.100.9"); errs.ReasonOf(err) != errs.ReasonDependencyUnavailable {
			t.Fatalf("a token the instance cannot check: %v; want 503 each time, never 429", err)
		}
	}
}
