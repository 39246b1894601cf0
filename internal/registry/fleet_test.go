package registry

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// answer is one reply of the fake lister.
type answer struct {
	n     int
	index uint64
	err   error
}

// fakeLister hands out queued answers, one per call, and records the index
// each call waited on; with none queued it blocks like a blocking query.
type fakeLister struct {
	answers chan answer
	mu      sync.Mutex
	after   []uint64
}

func (f *fakeLister) Healthy(ctx context.Context, after uint64) (int, uint64, error) {
	f.mu.Lock()
	f.after = append(f.after, after)
	f.mu.Unlock()
	select {
	case a := <-f.answers:
		return a.n, a.index, a.err
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// queries waits for n queries and returns the index each of the first n
// waited on.
func (f *fakeLister) queries(t *testing.T, n int) []uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		after := append([]uint64(nil), f.after...)
		f.mu.Unlock()
		if len(after) >= n {
			return after[:n]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d queries, want %d", len(after), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// recordingSharer records what it is told: n for SetFleet(n), -1 for
// PerInstance.
type recordingSharer struct {
	mu   sync.Mutex
	told []int
}

func (r *recordingSharer) SetFleet(n int) { r.mu.Lock(); r.told = append(r.told, n); r.mu.Unlock() }
func (r *recordingSharer) PerInstance()   { r.mu.Lock(); r.told = append(r.told, -1); r.mu.Unlock() }

func (r *recordingSharer) waitFor(t *testing.T, want []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got := append([]int(nil), r.told...)
		r.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			t.Fatalf("sharer told %v, want %v", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

var fastFleet = fleetTiming{wait: time.Second, call: time.Second, firstRetry: time.Millisecond, maxRetry: 4 * time.Millisecond, gap: 0, hold: time.Minute}

func TestFleetWatchFollowsTheHealthyInstances(t *testing.T) {
	l, s := &fakeLister{answers: make(chan answer, 16)}, &recordingSharer{}
	defer watchFleet(l, s, zerolog.Nop(), fastFleet).Stop()

	// Two instances, the same list again when a wait ends, then three, then
	// none passing (never fewer than one), then an index that ran backwards.
	for _, a := range []answer{{2, 10, nil}, {2, 10, nil}, {3, 12, nil}, {0, 15, nil}, {2, 3, nil}} {
		l.answers <- a
	}
	s.waitFor(t, []int{2, 3, 1, 2})
	// Each query waits on the index of the one before; after the index ran
	// backwards, on 0.
	if got, want := l.queries(t, 6), []uint64{0, 10, 10, 12, 15, 0}; !slices.Equal(got, want) {
		t.Errorf("queries waited on %v, want %v", got, want)
	}
}

// A short failure of Consul (a leader election, an agent restart) fails
// every instance's query at once: each keeps dividing by the last number
// rather than admitting every tier whole, which across the fleet would
// admit N times each tenant's rate.
func TestFleetWatchKeepsTheLastNumberThroughAShortFailure(t *testing.T) {
	l, s := &fakeLister{answers: make(chan answer, 16)}, &recordingSharer{}
	defer watchFleet(l, s, zerolog.Nop(), fastFleet).Stop()

	down := errors.New("Unexpected response code: 500 (No cluster leader)")
	for _, a := range []answer{{2, 10, nil}, {0, 0, down}, {0, 0, down}, {0, 0, down}, {2, 11, nil}, {3, 12, nil}} {
		l.answers <- a
	}
	// Never unknown: 2 throughout, then the 3 of the next answer.
	s.waitFor(t, []int{2, 3})
	// After a failure the query starts over at index 0.
	if got, want := l.queries(t, 7), []uint64{0, 10, 0, 0, 0, 11, 12}; !slices.Equal(got, want) {
		t.Errorf("queries waited on %v, want %v", got, want)
	}
}

func TestFleetWatchFallsBackToPerInstanceOnceTheHoldEnds(t *testing.T) {
	l, s := &fakeLister{answers: make(chan answer, 64)}, &recordingSharer{}
	timing := fastFleet
	timing.hold = 20 * time.Millisecond
	defer watchFleet(l, s, zerolog.Nop(), timing).Stop()

	down := errors.New("connection refused")
	l.answers <- answer{2, 10, nil}
	// Failures for longer than the hold: at least 30 retries of 1 ms or more.
	for range 30 {
		l.answers <- answer{0, 0, down}
	}
	l.answers <- answer{2, 11, nil}
	// Unknown once, however many failures; the same 2 again after, since
	// the fleet was unknown in between.
	s.waitFor(t, []int{2, -1, 2})
	want := append([]uint64{0, 10}, make([]uint64, 30)...)
	if got := l.queries(t, 32); !slices.Equal(got, want) {
		t.Errorf("queries waited on %v, want %v", got, want)
	}
}

// The fallback comes when the hold ends, not at the next retry, which may
// be far later.
func TestFleetWatchFallsBackWhenTheHoldEndsBetweenRetries(t *testing.T) {
	l, s := &fakeLister{answers: make(chan answer, 16)}, &recordingSharer{}
	timing := fastFleet
	timing.firstRetry, timing.maxRetry, timing.hold = time.Minute, time.Minute, 30*time.Millisecond
	defer watchFleet(l, s, zerolog.Nop(), timing).Stop()

	l.answers <- answer{2, 10, nil}
	l.answers <- answer{0, 0, errors.New("connection refused")}
	s.waitFor(t, []int{2, -1})
}

// With no number yet there is nothing to keep: every tier whole at once.
func TestFleetWatchWithoutANumberYetIsUnknownAtOnce(t *testing.T) {
	l, s := &fakeLister{answers: make(chan answer, 16)}, &recordingSharer{}
	defer watchFleet(l, s, zerolog.Nop(), fastFleet).Stop()

	down := errors.New("connection refused")
	for _, a := range []answer{{0, 0, down}, {0, 0, down}, {2, 5, nil}} {
		l.answers <- a
	}
	s.waitFor(t, []int{-1, 2})
}

func TestFleetWatchStopEndsAWaitingQuery(t *testing.T) {
	l := &fakeLister{answers: make(chan answer)}
	w := watchFleet(l, &recordingSharer{}, zerolog.Nop(), fastFleet)
	l.queries(t, 1)
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not end a query in progress")
	}
}
