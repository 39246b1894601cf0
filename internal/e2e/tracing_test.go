//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// tracedService starts the binary with every call sampled, spans sent to the
// test Jaeger under a service name of its own, and the real MySQL.
func tracedService(t *testing.T, extra map[string]string) (*Service, string) {
	t.Helper()
	service := fmt.Sprintf("mgvcore-e2e-%d", time.Now().UnixNano())
	env := map[string]string{
		"MGV_TRACING_ENABLED":       "true",
		"MGV_TRACING_SERVICE_NAME":  service,
		"MGV_TRACING_SAMPLER":       "const",
		"MGV_TRACING_SAMPLER_PARAM": "1",
		"MGV_TRACING_COLLECTOR_URL": requireEnv(t, "MGV_TEST_JAEGER_COLLECTOR"),
		"MGV_DATABASE_DRIVER":       "mysql",
		"MGV_DATABASE_DSN":          requireEnv(t, "MGV_TEST_MYSQL_DSN"),
	}
	for k, v := range extra {
		env[k] = v
	}
	s := NewService(t, env)
	s.Start()
	return s, service
}

// TestTracesContinueAcrossBothTransports sends an HTTP request and a gRPC
// call to use cases that read MySQL, each under a parent span of its own, and
// finds in Jaeger the server span under that parent and a database query
// under the server span.
func TestTracesContinueAcrossBothTransports(t *testing.T) {
	query := requireEnv(t, "MGV_TEST_JAEGER_QUERY")
	s, service := tracedService(t, mysqlEnv(t))
	f := NewFixture(t, s)

	httpTrace, httpParent := newTraceID(), newSpanID()
	req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/conversations"), nil)
	req.Header.Set("uber-trace-id", httpTrace+":"+httpParent+":0:1")
	req.Header.Set("Authorization", "Bearer "+f.Token(t, f.Admin))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	closeBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Trace-Id") != httpTrace {
		t.Fatalf("GET /api/v1/conversations = %d, X-Trace-Id %q; want 200 and %s", resp.StatusCode, resp.Header.Get("X-Trace-Id"), httpTrace)
	}

	grpcTrace, grpcParent := newTraceID(), newSpanID()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "uber-trace-id", grpcTrace+":"+grpcParent+":0:1",
		"authorization", "Bearer "+f.AppToken(t))
	var header metadata.MD
	if _, err := openv1.NewOrgServiceClient(s.GRPC()).ListUsers(ctx, &openv1.ListUsersRequest{}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get("x-trace-id"); len(got) != 1 || got[0] != grpcTrace {
		t.Fatalf("x-trace-id metadata %v, want %s", got, grpcTrace)
	}

	for _, tc := range []struct {
		trace, parent, operation, transport string
	}{
		{httpTrace, httpParent, openv1.ConversationService_ListConversations_FullMethodName, "http"},
		{grpcTrace, grpcParent, openv1.OrgService_ListUsers_FullMethodName, "grpc"},
	} {
		tr := waitTrace(t, query, tc.trace, func(tr jaegerTrace) bool {
			server := tr.childOf(tc.parent)
			return server != nil && tr.queryUnder(server.SpanID) != nil
		})
		server := tr.childOf(tc.parent)
		if server.OperationName != tc.operation || server.tag("span.kind") != "server" || server.tag("transport") != tc.transport {
			t.Errorf("%s server span %s %v", tc.transport, server.OperationName, server.Tags)
		}
		if db := tr.queryUnder(server.SpanID); db.tag("db.system") != "mysql" || db.tag("db.statement") == nil {
			t.Errorf("%s database span %s %v", tc.transport, db.OperationName, db.Tags)
		}
		if got := tr.service(server); got != service {
			t.Errorf("service %q, want %q", got, service)
		}
	}
}

// TestUnparsableTraceHeaderStartsANewTrace: the call is served, under a new
// trace whose root says the caller's header was unusable.
func TestUnparsableTraceHeaderStartsANewTrace(t *testing.T) {
	query := requireEnv(t, "MGV_TEST_JAEGER_QUERY")
	s, _ := tracedService(t, nil)
	req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/ping"), nil)
	req.Header.Set("uber-trace-id", "not:a:trace")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	closeBody(t, resp)
	id := resp.Header.Get("X-Trace-Id")
	if resp.StatusCode != http.StatusOK || len(id) != 32 {
		t.Fatalf("GET /api/v1/ping = %d, X-Trace-Id %q; want 200 and a new trace id", resp.StatusCode, id)
	}
	tr := waitTrace(t, query, id, func(tr jaegerTrace) bool { return len(tr.Spans) > 0 })
	root := tr.Spans[0]
	if len(root.References) != 0 || root.tag("trace.parent_invalid") != true {
		t.Errorf("root span %s refs %v tags %v", root.OperationName, root.References, root.Tags)
	}
}

// TestForgedSampledFlagsAreBudgeted: a client flags every call as sampled,
// over HTTP and gRPC, with a sampler that samples nothing itself. Only the
// budget's worth of those calls reach Jaeger, and every answer still
// carries the caller's trace id.
func TestForgedSampledFlagsAreBudgeted(t *testing.T) {
	query := requireEnv(t, "MGV_TEST_JAEGER_QUERY")
	const budget = 5
	s, service := tracedService(t, map[string]string{
		"MGV_TRACING_SAMPLER":            "probabilistic",
		"MGV_TRACING_SAMPLER_PARAM":      "0",
		"MGV_TRACING_CALLER_SAMPLED_RPS": fmt.Sprint(budget),
		"MGV_RATELIMIT_ANON_RPS":         "100000",
		"MGV_RATELIMIT_ANON_BURST":       "10000",
	})
	ping := openv1.NewSystemServiceClient(s.GRPC())
	sent := map[string]bool{}
	start := time.Now()
	for i := range 400 {
		trace := newTraceID()
		sent[trace] = true
		header := trace + ":" + newSpanID() + ":0:1"
		if i%4 == 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var md metadata.MD
			_, err := ping.Ping(metadata.AppendToOutgoingContext(ctx, "uber-trace-id", header), &openv1.PingRequest{}, grpc.Header(&md))
			cancel()
			if got := md.Get("x-trace-id"); err != nil || len(got) != 1 || got[0] != trace {
				t.Fatalf("gRPC Ping: %v, x-trace-id %v; want the caller's %s", err, got, trace)
			}
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/ping"), nil)
		req.Header.Set("uber-trace-id", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		closeBody(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Trace-Id") != trace {
			t.Fatalf("GET /api/v1/ping = %d, X-Trace-Id %q; want 200 and the caller's %s", resp.StatusCode, resp.Header.Get("X-Trace-Id"), trace)
		}
	}
	elapsed := time.Since(start)
	// A full bucket of budget, and budget a second after it.
	most := budget + int(math.Ceil(budget*elapsed.Seconds()))

	// The spans are flushed every second: count until the number holds.
	var n, held int
	for deadline := time.Now().Add(20 * time.Second); held < 3 && time.Now().Before(deadline); time.Sleep(time.Second) {
		m := len(jaegerTraceIDs(t, query, service, sent))
		if m >= budget && m == n {
			held++
		} else {
			held = 0
		}
		n = m
	}
	t.Logf("%d of %d caller-sampled calls in %s reached Jaeger (budget %d/s: at least %d, at most %d)", n, len(sent), elapsed.Round(time.Millisecond), budget, budget, most)
	if n < budget || n > most {
		t.Fatalf("%d of the %d caller-sampled traces reached Jaeger in %s, want %d to %d", n, len(sent), elapsed, budget, most)
	}
}

// TestOneClientCannotTakeTheTraceBudget: a client flagging every call as
// sampled gets its share of the callers' budget, and a second client, from
// another address, still has its calls traced. Without the share the first
// would have taken the whole budget.
func TestOneClientCannotTakeTheTraceBudget(t *testing.T) {
	query := requireEnv(t, "MGV_TEST_JAEGER_QUERY")
	const total, share = 40, 5
	s, service := tracedService(t, map[string]string{
		"MGV_TRACING_SAMPLER":                       "probabilistic",
		"MGV_TRACING_SAMPLER_PARAM":                 "0",
		"MGV_TRACING_CALLER_SAMPLED_RPS":            fmt.Sprint(total),
		"MGV_TRACING_CALLER_SAMPLED_PER_CLIENT_RPS": fmt.Sprint(share),
		"MGV_RATELIMIT_ANON_RPS":                    "100000",
		"MGV_RATELIMIT_ANON_BURST":                  "10000",
	})
	flagged := func(from string, calls int) (map[string]bool, time.Duration) {
		client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)},
		}).DialContext}}
		defer client.CloseIdleConnections()
		sent := map[string]bool{}
		start := time.Now()
		for range calls {
			trace := newTraceID()
			sent[trace] = true
			req, _ := http.NewRequest(http.MethodGet, s.URL("/api/v1/ping"), nil)
			req.Header.Set("uber-trace-id", trace+":"+newSpanID()+":0:1")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			closeBody(t, resp)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Trace-Id") != trace {
				t.Fatalf("GET /api/v1/ping from %s = %d, X-Trace-Id %q; want 200 and %s", from, resp.StatusCode, resp.Header.Get("X-Trace-Id"), trace)
			}
		}
		return sent, time.Since(start)
	}
	greedy, took := flagged("127.0.0.1", 300)
	other, _ := flagged("127.0.0.2", share)

	// The spans are flushed every second: count until both numbers hold.
	var g, o, held int
	for deadline := time.Now().Add(20 * time.Second); held < 3 && time.Now().Before(deadline); time.Sleep(time.Second) {
		gn, on := len(jaegerTraceIDs(t, query, service, greedy)), len(jaegerTraceIDs(t, query, service, other))
		if gn == g && on == o && on == share {
			held++
		} else {
			held = 0
		}
		g, o = gn, on
	}
	most := share + int(math.Ceil(share*took.Seconds()))
	t.Logf("127.0.0.1: %d of %d flagged calls in %s traced (share %d/s, at most %d); 127.0.0.2: %d of %d", g, len(greedy), took.Round(time.Millisecond), share, most, o, len(other))
	if g < share || g > most {
		t.Fatalf("the flagging client had %d traces, want its share: %d to %d", g, share, most)
	}
	if o != share {
		t.Fatalf("the other client had %d of its %d flagged calls traced, want all", o, share)
	}
}

// jaegerTraceIDs lists the traces of service in Jaeger that are among ids.
func jaegerTraceIDs(t *testing.T, query, service string, ids map[string]bool) []string {
	t.Helper()
	resp, err := http.Get(query + "/api/traces?limit=5000&lookback=1h&service=" + service)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	var body struct {
		Data []struct {
			TraceID string `json:"traceID"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil // the service appears once its first span is stored
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tr := range body.Data {
		if ids[tr.TraceID] {
			out = append(out, tr.TraceID)
		}
	}
	return out
}

// TestSpansAreFlushedOnUpgradeAndStop: with a flush interval of an hour,
// only the flush on the way out can bring a process's spans to Jaeger, both
// when an upgrade replaces it and when SIGTERM stops it. The agent (UDP)
// carries them here, the collector in the test above.
func TestSpansAreFlushedOnUpgradeAndStop(t *testing.T) {
	query := requireEnv(t, "MGV_TEST_JAEGER_QUERY")
	s, _ := tracedService(t, map[string]string{
		"MGV_TRACING_COLLECTOR_URL":  "",
		"MGV_TRACING_AGENT_ADDR":     requireEnv(t, "MGV_TEST_JAEGER_AGENT"),
		"MGV_TRACING_FLUSH_INTERVAL": "1h",
	})
	traced := func() string {
		t.Helper()
		id := newTraceID()
		req, _ := http.NewRequest(http.MethodGet, s.URL("/readyz"), nil)
		req.Header.Set("uber-trace-id", id+":"+newSpanID()+":0:1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		closeBody(t, resp)
		return id
	}
	hasDBSpan := func(tr jaegerTrace) bool { return len(tr.Spans) >= 2 }

	beforeUpgrade := traced()
	old := s.Signal(syscall.SIGUSR2)
	waitNewPID(t, s, old, 15*time.Second)
	if !WaitGone(old, 15*time.Second) {
		t.Fatalf("old process %d still running", old)
	}
	waitTrace(t, query, beforeUpgrade, hasDBSpan)

	beforeStop := traced()
	last := s.Signal(syscall.SIGTERM)
	if !WaitGone(last, 15*time.Second) {
		t.Fatalf("process %d still running after SIGTERM", last)
	}
	waitTrace(t, query, beforeStop, hasDBSpan)
}

func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[0] |= 0x10 // a non-zero high half keeps the 32-digit form in Jaeger
	return hex.EncodeToString(b[:])
}

func newSpanID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	b[0] |= 0x10
	return hex.EncodeToString(b[:])
}

// jaegerTrace is one trace as Jaeger's query API returns it.
type jaegerTrace struct {
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

// childOf is the span whose parent is spanID, or nil.
func (tr jaegerTrace) childOf(spanID string) *jaegerSpan {
	for i, s := range tr.Spans {
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" && r.SpanID == spanID {
				return &tr.Spans[i]
			}
		}
	}
	return nil
}

// queryUnder is a gorm.query span whose parent is spanID, or nil.
func (tr jaegerTrace) queryUnder(spanID string) *jaegerSpan {
	for i, s := range tr.Spans {
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" && r.SpanID == spanID && s.OperationName == "gorm.query" {
				return &tr.Spans[i]
			}
		}
	}
	return nil
}

func (tr jaegerTrace) service(s *jaegerSpan) string { return tr.Processes[s.ProcessID].ServiceName }

func (s *jaegerSpan) tag(key string) any {
	for _, t := range s.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return nil
}

// waitTrace polls the query API until the trace satisfies ok.
func waitTrace(t *testing.T, query, traceID string, ok func(jaegerTrace) bool) jaegerTrace {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last jaegerTrace
	for time.Now().Before(deadline) {
		var body struct {
			Data []jaegerTrace `json:"data"`
		}
		if resp, err := http.Get(query + "/api/traces/" + traceID); err == nil {
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&body) == nil && len(body.Data) == 1 {
				last = body.Data[0]
				if ok(last) {
					closeBody(t, resp)
					return last
				}
			}
			closeBody(t, resp)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("trace %s not complete in Jaeger after 20s; last seen: %+v", traceID, last)
	return last
}
