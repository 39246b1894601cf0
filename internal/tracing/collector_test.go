package tracing

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	otlog "github.com/opentracing/opentracing-go/log"
	"github.com/uber/jaeger-client-go"
	"github.com/uber/jaeger-client-go/thrift"
	j "github.com/uber/jaeger-client-go/thrift-gen/jaeger"
	"github.com/uber/jaeger-client-go/transport"
)

// fakeCollector decodes every batch POSTed to it with Jaeger's own thrift
// code, as the collector does.
type fakeCollector struct {
	*httptest.Server
	mu      sync.Mutex
	batches []*j.Batch
	status  int
}

func newFakeCollector(t *testing.T) *fakeCollector {
	c := &fakeCollector{status: http.StatusAccepted}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-thrift" {
			t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		buf := thrift.NewTMemoryBuffer()
		_, _ = buf.Write(body)
		batch := &j.Batch{}
		if err := batch.Read(context.Background(), thrift.NewTBinaryProtocolConf(buf, nil)); err != nil {
			t.Errorf("the collector cannot read the batch: %v", err)
		}
		if buf.Len() != 0 {
			t.Errorf("%d bytes after the batch", buf.Len())
		}
		c.mu.Lock()
		c.batches = append(c.batches, batch)
		status := c.status
		c.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *fakeCollector) received() []*j.Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.batches)
}

type stringer struct{}

func (stringer) String() string { return "from String" }

type point struct{ X, Y int }

// testSpans makes finished spans of every shape: tags of each type a
// caller may set, a value longer than the limit, references of both
// kinds, logs.
func testSpans(t *testing.T, maxTag int) []*jaeger.Span {
	t.Helper()
	rep := jaeger.NewInMemoryReporter()
	tr, closer := jaeger.NewTracer("mgvcore-test", jaeger.NewConstSampler(true), rep,
		jaeger.TracerOptions.Gen128Bit(true), jaeger.TracerOptions.MaxTagValueLength(maxTag),
		jaeger.TracerOptions.Tag("env", "test"), jaeger.TracerOptions.Tag("replicas", 3))
	t.Cleanup(func() { _ = closer.Close() })

	root := tr.StartSpan("/mgv.open.v1.SystemService/Ping")
	ext.SpanKindRPCServer.Set(root)
	for k, v := range map[string]any{
		"s": "text", "long": strings.Repeat("x", maxTag+10), "bytes": []byte("raw"), "longbytes": make([]byte, maxTag+1),
		"t": true, "f": false, "int": -7, "i8": int8(-8), "i16": int16(-16), "i32": int32(-32), "i64": int64(-1 << 40),
		"uint": uint(7), "u8": uint8(8), "u16": uint16(200), "u32": uint32(32), "u64": uint64(1 << 63),
		"f32": float32(1.5), "f64": 2.25, "stringer": stringer{}, "err": errors.New("boom"), "struct": point{1, 2},
	} {
		root.SetTag(k, v)
	}
	root.SetTag("s", "set twice")
	root.LogFields(otlog.String("event", "error"), otlog.Int("n", 3), otlog.Bool("ok", false), otlog.Float64("x", 0.5))
	child := tr.StartSpan("db.query", opentracing.ChildOf(root.Context()))
	ext.SpanKindRPCClient.Set(child)
	child.SetTag("db.statement", "SELECT 1")
	follower := tr.StartSpan("outbox", opentracing.FollowsFrom(root.Context()))
	time.Sleep(2 * time.Millisecond)
	follower.Finish()
	child.Finish()
	root.Finish()

	var out []*jaeger.Span
	for _, s := range rep.GetSpans() {
		out = append(out, s.(*jaeger.Span))
	}
	if len(out) != 3 {
		t.Fatalf("%d spans", len(out))
	}
	return out
}

// normalise orders a span's tags by key, keeping the last value of a key
// set twice (Span.Tags keeps one per key), so two encodings compare.
func normalise(s *j.Span) *j.Span {
	c := *s
	last := map[string]*j.Tag{}
	for _, tag := range s.Tags {
		last[tag.Key] = tag
	}
	c.Tags = nil
	for _, k := range slices.Sorted(maps.Keys(last)) {
		c.Tags = append(c.Tags, last[k])
	}
	if len(c.References) == 0 {
		c.References = nil
	}
	if len(c.Logs) == 0 {
		c.Logs = nil
	}
	return &c
}

// The batches the sender POSTs read, with Jaeger's own thrift code, as
// exactly the spans and process jaeger-client-go's converter builds.
func TestCollectorSenderEncodesAsJaeger(t *testing.T) {
	const maxTag = 16
	spans := testSpans(t, maxTag)
	coll := newFakeCollector(t)
	s := newCollectorSender(coll.URL, time.Second, 100, maxTag)
	for _, sp := range spans {
		if n, err := s.Append(sp); n != 0 || err != nil {
			t.Fatalf("Append sent %d: %v", n, err)
		}
	}
	if n, err := s.Flush(); n != len(spans) || err != nil {
		t.Fatalf("Flush sent %d of %d: %v", n, len(spans), err)
	}
	got := coll.received()
	if len(got) != 1 || len(got[0].Spans) != len(spans) {
		t.Fatalf("received %v", got)
	}
	if want := jaeger.BuildJaegerProcessThrift(spans[0]); !reflect.DeepEqual(got[0].Process, want) {
		t.Errorf("process %v, want %v", got[0].Process, want)
	}
	for i, sp := range spans {
		want, have := normalise(jaeger.BuildJaegerThrift(sp)), normalise(got[0].Spans[i])
		if !reflect.DeepEqual(have, want) {
			t.Errorf("span %q:\n got %v\nwant %v", sp.OperationName(), have, want)
		}
	}
	// Spot checks that do not lean on the converter.
	root := got[0].Spans[2]
	tags := map[string]*j.Tag{}
	for _, tag := range root.Tags {
		tags[tag.Key] = tag
	}
	if v := tags["span.kind"]; v == nil || *v.VStr != "server" {
		t.Errorf("span.kind %v", v)
	}
	if v := tags["long"]; v == nil || len(*v.VStr) != maxTag {
		t.Errorf("long value not cut to %d bytes: %v", maxTag, v)
	}
	if v := tags["u64"]; v == nil || v.VType != j.TagType_LONG || *v.VLong != -1<<63 {
		t.Errorf("u64 %v", v)
	}
	if v := tags["struct"]; v == nil || *v.VStr != "{X:1 Y:2}" {
		t.Errorf("struct %v", v)
	}
	if root.Duration < 2000 || root.ParentSpanId != 0 || len(root.Logs) != 1 || len(root.Logs[0].Fields) != 4 {
		t.Errorf("root %v", root)
	}
}

// What the sender sends reads the same as what jaeger-client-go's own HTTP
// transport sends for the same spans.
func TestCollectorSenderMatchesHTTPTransport(t *testing.T) {
	spans := testSpans(t, 2048)
	ours, theirs := newFakeCollector(t), newFakeCollector(t)
	s := newCollectorSender(ours.URL, time.Second, 100, 2048)
	h := transport.NewHTTPTransport(theirs.URL)
	for _, sp := range spans {
		_, _ = s.Append(sp)
		_, _ = h.Append(sp)
	}
	_, _ = s.Flush()
	_, _ = h.Flush()
	a, b := ours.received(), theirs.received()
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("%d and %d batches", len(a), len(b))
	}
	if !reflect.DeepEqual(a[0].Process, b[0].Process) {
		t.Errorf("process %v, HTTPTransport %v", a[0].Process, b[0].Process)
	}
	for i := range spans {
		if x, y := normalise(a[0].Spans[i]), normalise(b[0].Spans[i]); !reflect.DeepEqual(x, y) {
			t.Errorf("span %d:\n got %v\nwant %v", i, x, y)
		}
	}
}

// A full batch is sent at once; a flush sends what waits and then nothing;
// an error status is reported and the batch is not sent again.
func TestCollectorSenderBatchesAndErrors(t *testing.T) {
	spans := testSpans(t, 256)
	coll := newFakeCollector(t)
	s := newCollectorSender(coll.URL, time.Second, 2, 256)
	if n, err := s.Append(spans[0]); n != 0 || err != nil {
		t.Fatalf("first Append sent %d: %v", n, err)
	}
	if n, err := s.Append(spans[1]); n != 2 || err != nil {
		t.Fatalf("the full batch sent %d: %v", n, err)
	}
	if n, err := s.Flush(); n != 0 || err != nil {
		t.Fatalf("an empty flush sent %d: %v", n, err)
	}
	coll.mu.Lock()
	coll.status = http.StatusServiceUnavailable
	coll.mu.Unlock()
	_, _ = s.Append(spans[2])
	if n, err := s.Flush(); n != 1 || err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("flush to a failing collector: %d, %v", n, err)
	}
	if n, _ := s.Flush(); n != 0 {
		t.Fatalf("a failed batch was kept: %d", n)
	}
	if got := coll.received(); len(got) != 2 || len(got[0].Spans) != 2 || len(got[1].Spans) != 1 {
		t.Fatalf("batches %v", got)
	}
	coll.Close()
	_, _ = s.Append(spans[0])
	if _, err := s.Flush(); err == nil {
		t.Fatal("no error from a collector that is gone")
	}
}

// BenchmarkCollectorSender is the reporter's work per span: append it to
// the batch and, every 1000, encode and send the batch.
func BenchmarkCollectorSender(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	span := benchSpan(b)
	senders := map[string]func() jaeger.Transport{
		"mgvcore":                 func() jaeger.Transport { return newCollectorSender(srv.URL, time.Second, 1000, 2048) },
		"jaeger-client-transport": func() jaeger.Transport { return transport.NewHTTPTransport(srv.URL, transport.HTTPBatchSize(1000)) },
	}
	for _, name := range []string{"mgvcore", "jaeger-client-transport"} {
		b.Run(name, func(b *testing.B) {
			s := senders[name]()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Append(span); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSpan is a finished server span with the tags a sampled call carries.
func benchSpan(t testing.TB) *jaeger.Span {
	rep := jaeger.NewInMemoryReporter()
	tr, _ := jaeger.NewTracer("mgvcore-bench", jaeger.NewConstSampler(true), rep, jaeger.TracerOptions.Gen128Bit(true))
	sp := tr.StartSpan("/mgv.open.v1.SystemService/Ping")
	ext.SpanKindRPCServer.Set(sp)
	sp.SetTag("transport", "http")
	sp.SetTag("http.method", "GET")
	sp.SetTag("http.route", "/api/v1/ping")
	sp.SetTag("http.status_code", 200)
	sp.Finish()
	if len(rep.GetSpans()) != 1 {
		t.Fatal("no span")
	}
	return rep.GetSpans()[0].(*jaeger.Span)
}
