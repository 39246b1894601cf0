package tracing

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/uber/jaeger-client-go"

	"github.com/megaview/mgvcore/internal/polltest"
)

// recordingSender keeps what the reporter hands it, copying each span's
// operation as it arrives (the span goes back to its pool afterwards).
type recordingSender struct {
	mu       sync.Mutex
	appended []string
	flushes  int
	closed   bool
	block    chan struct{} // when set, Append waits on it
	entered  atomic.Int32  // Append calls begun
}

func (s *recordingSender) Append(span *jaeger.Span) (int, error) {
	s.entered.Add(1)
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appended = append(s.appended, span.OperationName())
	return 0, nil
}

func (s *recordingSender) Flush() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes++
	return 0, nil
}

func (s *recordingSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *recordingSender) state() (int, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.appended), s.flushes, s.closed
}

func pooledTracer(t *testing.T, r jaeger.Reporter) *jaeger.Tracer {
	tr, closer := jaeger.NewTracer("test", jaeger.NewConstSampler(true), r, jaeger.TracerOptions.PoolSpans(true))
	t.Cleanup(func() { _ = closer.Close() })
	return tr.(*jaeger.Tracer)
}

// A batch of wakeAt spans is sent without waiting for the interval; fewer
// go with the interval's flush; Close sends the rest, flushes and closes
// the sender, and later spans are dropped.
func TestBatchReporterWakesFlushesAndCloses(t *testing.T) {
	s := &recordingSender{}
	r := newBatchReporter(s, time.Hour, 10_000, zerolog.Nop())
	tr := pooledTracer(t, r)
	for range reporterWakeAt {
		tr.StartSpan("a").Finish()
	}
	polltest.Until(t, 5*time.Second, 2*time.Millisecond, "a full batch without the interval", func() bool { n, _, _ := s.state(); return n == reporterWakeAt })
	tr.StartSpan("b").Finish()
	r.Close()
	n, flushes, closed := s.state()
	if n != reporterWakeAt+1 || flushes != 1 || !closed {
		t.Fatalf("after Close: %d spans, %d flushes, closed %v", n, flushes, closed)
	}
	tr.StartSpan("late").Finish()
	r.Close() // twice is harmless
	if n, _, _ := s.state(); n != reporterWakeAt+1 {
		t.Fatalf("a span after Close reached the sender")
	}

	s2 := &recordingSender{}
	r2 := newBatchReporter(s2, 20*time.Millisecond, 10_000, zerolog.Nop())
	defer r2.Close()
	pooledTracer(t, r2).StartSpan("one").Finish()
	polltest.Until(t, 5*time.Second, 2*time.Millisecond, "the interval's flush", func() bool { n, f, _ := s2.state(); return n == 1 && f >= 1 })
}

// Each span reaches the sender with its own data, although spans are
// pooled and reused as soon as they are released.
func TestBatchReporterRetainsPooledSpans(t *testing.T) {
	s := &recordingSender{}
	r := newBatchReporter(s, time.Hour, 10_000, zerolog.Nop())
	tr := pooledTracer(t, r)
	var want []string
	for i := range 1000 {
		op := "op-" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		want = append(want, op)
		tr.StartSpan(op).Finish()
	}
	r.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.appended) != len(want) {
		t.Fatalf("%d of %d spans", len(s.appended), len(want))
	}
	for i := range want {
		if s.appended[i] != want[i] {
			t.Fatalf("span %d arrived as %q, want %q: a pooled span was reused before it was sent", i, s.appended[i], want[i])
		}
	}
}

// When the sender is stuck, calls go on: spans beyond the queue are
// dropped, counted and logged, and nothing blocks.
func TestBatchReporterDropsWhenFull(t *testing.T) {
	s := &recordingSender{block: make(chan struct{})}
	var logs bytes.Buffer
	r := newBatchReporter(s, time.Hour, 300, zerolog.New(&logs))
	tr := pooledTracer(t, r)
	for range 300 {
		tr.StartSpan("x").Finish() // the wake at 256 leaves the reporter stuck in Append
	}
	polltest.Until(t, 5*time.Second, time.Millisecond, "the reporter stuck in the sender", func() bool { return s.entered.Load() > 0 })
	done := make(chan struct{})
	go func() {
		for range 1000 {
			tr.StartSpan("x").Finish()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("finishing a span blocked on a stuck sender")
	}
	close(s.block)
	r.Close()
	n, _, _ := s.state()
	// The batch the reporter was stuck in counts against the queue too:
	// the spans held never pass its size.
	if n != 300 {
		t.Fatalf("%d spans reached the sender, want the queue's 300", n)
	}
	if !strings.Contains(logs.String(), "spans dropped") {
		t.Fatalf("no drop logged: %s", logs.String())
	}
}

// BenchmarkReporter is a finished sampled span's cost to the calling
// goroutine and the reporter together, from many goroutines: the batch
// reporter against jaeger-client-go's remote reporter, over a sender that
// discards.
func BenchmarkReporter(b *testing.B) {
	for _, name := range []string{"batch", "jaeger-remote"} {
		b.Run(name, func(b *testing.B) {
			var r jaeger.Reporter
			if name == "batch" {
				r = newBatchReporter(discardSender{}, time.Second, reporterQueueSize, zerolog.Nop())
			} else {
				r = jaeger.NewRemoteReporter(discardSender{}, jaeger.ReporterOptions.QueueSize(reporterQueueSize))
			}
			tr, closer := jaeger.NewTracer("bench", jaeger.NewConstSampler(true), r, jaeger.TracerOptions.PoolSpans(true))
			defer func() { _ = closer.Close() }()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tr.StartSpan("op").Finish()
				}
			})
		})
	}
}

type discardSender struct{}

func (discardSender) Append(*jaeger.Span) (int, error) { return 0, nil }
func (discardSender) Flush() (int, error)              { return 0, nil }
func (discardSender) Close() error                     { return nil }
