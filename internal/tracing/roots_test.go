package tracing

import (
	"context"
	"hash/maphash"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opentracing/opentracing-go"
	"github.com/uber/jaeger-client-go"
	"golang.org/x/time/rate"
)

// decidingTracer is New's tracer with an in-memory reporter: roots decide,
// Jaeger is told yes with their tags.
func decidingTracer(t *testing.T, roots jaeger.Sampler) (*jaegerTracer, *jaeger.InMemoryReporter) {
	t.Helper()
	reporter := jaeger.NewInMemoryReporter()
	_, tags := roots.IsSampled(jaeger.TraceID{}, "")
	ot, closer := jaeger.NewTracer("test", sampledRoot{tags: tags}, reporter, jaeger.TracerOptions.Gen128Bit(true))
	tr := &jaegerTracer{ot: ot, closer: closer, roots: roots}
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr, reporter
}

func TestUnsampledTraceHasIdsAndNoSpans(t *testing.T) {
	tr, reporter := decidingTracer(t, jaeger.NewConstSampler(false))
	ctx, server := tr.StartServer(context.Background(), "/test/Op", nil)
	id := TraceID(ctx)
	if server.Recording() || len(id) != 32 {
		t.Fatalf("recording %v, trace id %q: want an unsampled span with a 128-bit id", server.Recording(), id)
	}
	childCtx, child := tr.StartChild(ctx, "gorm.query")
	if child.Recording() || TraceID(childCtx) != id {
		t.Fatal("a child of an unsampled trace must record nothing and keep the trace id")
	}
	child.Finish()
	server.SetTag("k", "v")
	server.Finish()
	if n := reporter.SpansSubmitted(); n != 0 {
		t.Fatalf("%d spans reported for an unsampled trace", n)
	}

	// Outgoing calls carry the trace, unsampled, in Jaeger's own format.
	h := http.Header{}
	tr.Inject(ctx, h.Set)
	v := h.Get(HeaderTraceContext)
	if parts := strings.Split(v, ":"); len(parts) != 4 || parts[0] != id || parts[3] != "0" {
		t.Fatalf("injected %q, want %s:<span>:<parent>:0 (flags 0: not sampled)", v, id)
	}
	sc, err := tr.ot.Extract(opentracing.HTTPHeaders, opentracing.HTTPHeadersCarrier(h))
	if err != nil {
		t.Fatal(err)
	}
	if jsc := sc.(jaeger.SpanContext); jsc.IsSampled() || jsc.TraceID().String() != id {
		t.Fatalf("extracted %v, want trace %s unsampled", jsc, id)
	}

	// So do outgoing HTTP requests, without a client span.
	var sent string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r.Header.Get(HeaderTraceContext)
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := RoundTripper(tr, base, "elasticsearch").RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if sent != v || req.Header.Get(HeaderTraceContext) != "" || reporter.SpansSubmitted() != 0 {
		t.Fatalf("outgoing header %q (want %q), caller's request changed: %v, %d spans",
			sent, v, req.Header.Get(HeaderTraceContext) != "", reporter.SpansSubmitted())
	}

	// A callee of ours continues it the same way.
	ctx2, s2 := tr.StartServer(context.Background(), "/test/Op", HeaderFunc(h.Get))
	if s2.Recording() || TraceID(ctx2) != id {
		t.Fatalf("continued trace %q (recording %v), want %s unsampled", TraceID(ctx2), s2.Recording(), id)
	}
	s2.Finish()
}

func TestRootsDecideAtTheirRate(t *testing.T) {
	sampler, err := jaeger.NewProbabilisticSampler(0.25)
	if err != nil {
		t.Fatal(err)
	}
	tr, reporter := decidingTracer(t, sampler)
	const calls = 4000
	ids := map[string]bool{}
	for range calls {
		ctx, s := tr.StartServer(context.Background(), "/test/Op", nil)
		ids[TraceID(ctx)] = true
		s.Finish()
	}
	if len(ids) != calls {
		t.Fatalf("%d distinct trace ids for %d calls", len(ids), calls)
	}
	// Binomial(4000, 0.25): mean 1000, sd 27; 800–1200 is 7 sd either side.
	if n := reporter.SpansSubmitted(); n < 800 || n > 1200 {
		t.Fatalf("%d of %d calls sampled, want about a quarter", n, calls)
	}
	for _, sp := range reporter.GetSpans()[:10] {
		tags := sp.(*jaeger.Span).Tags()
		if tags["sampler.type"] != "probabilistic" || tags["sampler.param"] != 0.25 {
			t.Fatalf("sampled root tags %v, want the probabilistic sampler's", tags)
		}
	}
}

// callerHeader is an uber-trace-id a caller sends for a new trace of its
// own, sampled or not.
func callerHeader(trace jaeger.TraceID, sampled bool) Headers {
	return callerAt(trace, sampled, "")
}

// callerAt is callerHeader from a client address.
func callerAt(trace jaeger.TraceID, sampled bool, addr string) Headers {
	flags := "0"
	if sampled {
		flags = "1"
	}
	return addressed{
		HeaderFunc: func(key string) string {
			if key == HeaderTraceContext {
				return trace.String() + ":" + jaeger.SpanID(trace.Low|1).String() + ":0:" + flags
			}
			return ""
		},
		addr: addr,
	}
}

type addressed struct {
	HeaderFunc
	addr string
}

func (a addressed) ClientAddress() string { return a.addr }

// TestOneClientCannotTakeTheWholeBudget: a client flagging every request
// gets its own share of the callers' budget; the others still have theirs.
func TestOneClientCannotTakeTheWholeBudget(t *testing.T) {
	tr, reporter := decidingTracer(t, jaeger.NewConstSampler(false))
	tr.callers = newCallerBudget(0.001, 0.001) // bursts of one, refilled after 1000 s
	tr.callers.total = rate.NewLimiter(0.001, 10)
	clients := []string{"203.0.113.7", "2001:db8:1:2::1", "198.51.100.1", "198.51.100.2", "198.51.100.3", "2001:db8:9::1"}
	// Two clients may share a bucket; the test wants each in its own.
	for !distinctBuckets(tr.callers.perClient, clients) {
		tr.callers.perClient.seed = maphash.MakeSeed()
	}
	sampled := func(addr string, i uint64) bool {
		_, s := tr.StartServer(context.Background(), "/test/Op", callerAt(jaeger.TraceID{High: 4, Low: i}, true, addr))
		defer s.Finish()
		return s.Recording()
	}
	var n int
	for i := range uint64(50) {
		if sampled("203.0.113.7", i+1) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("one client had %d of 50 flagged calls sampled, want its share of 1", n)
	}
	// A host's IPv6 addresses in one /64 are one client.
	if !sampled("2001:db8:1:2::1", 100) || sampled("2001:db8:1:2::ffff", 101) {
		t.Fatal("want one sampled call for the /64, then none")
	}
	others := 0
	for i, addr := range clients[2:] {
		if sampled(addr, uint64(200+i)) {
			others++
		}
	}
	if others != 4 || reporter.SpansSubmitted() != 6 {
		t.Fatalf("%d of 4 other clients sampled, %d spans; want their own shares", others, reporter.SpansSubmitted())
	}
}

func distinctBuckets(c *clientBuckets, addrs []string) bool {
	seen := map[uint64]bool{}
	for _, a := range addrs {
		b := c.index(a)
		if seen[b] {
			return false
		}
		seen[b] = true
	}
	return true
}

func TestClientBucketsRefillAtTheirRate(t *testing.T) {
	c := newClientBuckets(10, 16) // 10/s, bursts of 10
	now := time.Now()
	n := 0
	for range 30 {
		if c.allow("a", now) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d allowed at once, want a burst of 10", n)
	}
	if c.allow("a", now.Add(50*time.Millisecond)) {
		t.Fatal("allowed before an interval passed")
	}
	if !c.allow("a", now.Add(100*time.Millisecond)) || c.allow("a", now.Add(100*time.Millisecond)) {
		t.Fatal("want exactly one more after one interval")
	}
	for i := 0; i < 10; i++ {
		if !c.allow("a", now.Add(10*time.Second)) {
			t.Fatalf("after a long pause, call %d refused: the burst should be whole again", i)
		}
	}
}

func TestCallersSampleWithinTheirBudget(t *testing.T) {
	tr, reporter := decidingTracer(t, jaeger.NewConstSampler(false))
	tr.callers = &callerBudget{total: rate.NewLimiter(0.001, 5)}

	// Unsampled callers' traces continue unsampled and take no budget.
	for i := range 10 {
		trace := jaeger.TraceID{High: 1, Low: uint64(i + 1)}
		ctx, s := tr.StartServer(context.Background(), "/test/Op", callerHeader(trace, false))
		if s.Recording() || TraceID(ctx) != trace.String() {
			t.Fatalf("unsampled caller: recording %v, trace %s; want %s unsampled", s.Recording(), TraceID(ctx), trace)
		}
		s.Finish()
	}
	// Sampled ones are honoured while the budget lasts, then the sampler
	// (never, here) decides; every call keeps its caller's trace id.
	var recorded []string
	for i := range 20 {
		trace := jaeger.TraceID{High: 2, Low: uint64(i + 1)}
		ctx, s := tr.StartServer(context.Background(), "/test/Op", callerHeader(trace, true))
		if TraceID(ctx) != trace.String() {
			t.Fatalf("call %d: trace %s, want the caller's %s", i, TraceID(ctx), trace)
		}
		if s.Recording() {
			recorded = append(recorded, TraceID(ctx))
		} else {
			h := http.Header{}
			tr.Inject(ctx, h.Set)
			if parts := strings.Split(h.Get(HeaderTraceContext), ":"); len(parts) != 4 || parts[0] != trace.String() || parts[3] != "0" {
				t.Fatalf("call %d past the budget injects %q, want the caller's trace unsampled", i, h.Get(HeaderTraceContext))
			}
		}
		s.Finish()
	}
	if len(recorded) != 5 || reporter.SpansSubmitted() != 5 {
		t.Fatalf("%d calls recorded (%v), %d spans reported; want the 5 of the budget", len(recorded), recorded, reporter.SpansSubmitted())
	}
	for i, id := range recorded {
		if want := (jaeger.TraceID{High: 2, Low: uint64(i + 1)}).String(); id != want {
			t.Fatalf("recorded %v, want the first five calls", recorded)
		}
	}
}

// TestPastTheBudgetTheSamplerDecidesNotTheCaller: the probabilistic
// sampler samples a trace id whose low bits are small, so a caller could
// pick ids it would always sample. Past the budget the caller's id is not
// what the sampler sees.
func TestPastTheBudgetTheSamplerDecidesNotTheCaller(t *testing.T) {
	sampler, err := jaeger.NewProbabilisticSampler(0.25)
	if err != nil {
		t.Fatal(err)
	}
	tr, reporter := decidingTracer(t, sampler)
	tr.callers = newCallerBudget(0, 0)
	const calls = 4000
	for i := range calls {
		trace := jaeger.TraceID{High: 3, Low: uint64(i + 1)}
		if sampled, _ := sampler.IsSampled(trace, "/test/Op"); !sampled {
			t.Fatalf("trace %s: the test needs ids the sampler would sample", trace)
		}
		_, s := tr.StartServer(context.Background(), "/test/Op", callerHeader(trace, true))
		s.Finish()
	}
	// Binomial(4000, 0.25): mean 1000, sd 27; 800–1200 is 7 sd either side.
	if n := reporter.SpansSubmitted(); n < 800 || n > 1200 {
		t.Fatalf("%d of %d caller-sampled calls sampled with no budget, want about a quarter", n, calls)
	}
}
