package limit

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func TestIdleKeysAreEvicted(t *testing.T) {
	cfg := testConfig()
	cfg.IdleEvict.Duration = time.Hour // sweeps below are explicit
	cfg.MaxKeys = 1 << 20
	l, reg := newTestLimiter(t, cfg)
	ctx := context.Background()

	before := heapInUse()
	const keys = 100_000
	for i := range keys {
		if err := l.Wait(ctx, Key{Scope: ScopeIP, ID: fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)}); err != nil {
			t.Fatal(err)
		}
	}
	grown := heapInUse()
	if l.Keys() != keys {
		t.Fatalf("%d keys, want %d", l.Keys(), keys)
	}
	if got := metricValue(t, reg, "mgv_ratelimit_keys", "", ""); got != keys {
		t.Errorf("keys metric %g, want %d", got, keys)
	}

	// Not idle long enough yet: nothing goes.
	l.sweep(time.Since(l.start))
	if l.Keys() != keys {
		t.Fatalf("a sweep before idle_evict dropped keys: %d left", l.Keys())
	}
	l.sweep(time.Since(l.start) + time.Hour + time.Second)
	if l.Keys() != 0 {
		t.Fatalf("%d keys left after an hour idle", l.Keys())
	}
	after := heapInUse()
	t.Logf("heap in use: %d KiB before, %d KiB with %d keys, %d KiB after eviction",
		before>>10, grown>>10, keys, after>>10)
	if growth, left := int64(grown)-int64(before), int64(after)-int64(before); growth <= 0 || left > growth/10 {
		t.Errorf("heap did not come back down: before %d, grown %d, after %d", before, grown, after)
	}
}

// A key with callers waiting is never evicted, however long ago it began.
func TestBusyKeysAreKept(t *testing.T) {
	l, _ := newTestLimiter(t, testConfig())
	busy := Key{Scope: ScopeTenant, ID: "busy", Tier: "slow"}
	idle := Key{Scope: ScopeTenant, ID: "idle"}
	_ = l.Wait(context.Background(), idle)
	ctx, cancel := context.WithCancel(context.Background())
	wg := fill(t, ctx, l, busy, 3) // the last one waits 3s at 1/s
	defer wg.Wait()
	defer cancel()

	l.sweep(time.Since(l.start) + 2*time.Minute)
	if l.Keys() != 1 || queued(l, busy) == 0 {
		t.Fatalf("%d keys left, %d queued on the busy one; want 1 and some", l.Keys(), queued(l, busy))
	}
}

// Traffic itself starts the sweeps, at most every idle_evict/2.
func TestTrafficStartsSweeps(t *testing.T) {
	cfg := testConfig()
	cfg.IdleEvict.Duration = 50 * time.Millisecond
	l, _ := newTestLimiter(t, cfg)
	ctx := context.Background()
	for i := range 100 {
		_ = l.Wait(ctx, Key{Scope: ScopeTenant, ID: fmt.Sprint(i)})
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Keys() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys still held", l.Keys())
		}
		time.Sleep(10 * time.Millisecond)
		_ = l.Wait(ctx, Key{Scope: ScopeTenant, ID: "active"})
	}
}
