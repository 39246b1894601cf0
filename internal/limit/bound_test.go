package limit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"testing"
	"time"
)

func TestKeyIDsAreBounded(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":              "203.0.113.9",
		"::ffff:203.0.113.9":       "203.0.113.9",
		"2001:0DB8::0001":          "2001:db8::1",
		"fe80::1%eth0":             "fe80::1",
		"":                         NoIP,
		"203.0.113.9, 10.0.0.1":    NoIP,
		strings.Repeat("1", 1<<20): NoIP,
	} {
		if got := ipID(in); got != want {
			t.Errorf("ipID(%.24q) = %q, want %q", in, got, want)
		}
	}
	if a := testing.AllocsPerRun(100, func() { ipID("203.0.113.9") }); a != 0 {
		t.Errorf("a canonical address costs %g allocations", a)
	}
	if id := "01HZX3T9Q8K2M4N6P8R0S2T4V6"; boundedID(id) != id {
		t.Error("a ULID is not kept as it is")
	}
	a, b := boundedID(strings.Repeat("x", 1<<20)), boundedID(strings.Repeat("x", 1<<20-1)+"y")
	if len(a) != 71 || len(b) != 71 || a == b {
		t.Errorf("long IDs: %q and %q, want distinct 71-byte digests", a, b)
	}
}

// 1 MB IDs, forged or not, are never kept: the memory held stays that of
// a few short keys.
func TestHugeIDsAreNotKept(t *testing.T) {
	cfg := testConfig()
	cfg.AnonRPS = 1_000_000 // the unparsable addresses share one key
	l, _ := newTestLimiter(t, cfg)
	ctx := context.Background()
	before := heapInUse()
	for i := range 100 {
		big := strings.Repeat("x", 1<<20) + fmt.Sprint(i)
		_ = l.Wait(ctx, Key{Scope: ScopeIP, ID: big})
		_ = l.Wait(ctx, Key{Scope: ScopeTenant, ID: big})
		_ = l.Wait(ctx, Key{Scope: ScopeApp, ID: "01HZX3T9Q8K2M4N6P8R0S2T4V6", Tier: big[:10]})
	}
	after := heapInUse()
	if l.Keys() != 1+100+1 {
		t.Errorf("%d keys, want one shared by the unparsable addresses, 100 digests and one app", l.Keys())
	}
	if grown := int64(after) - int64(before); grown > 4<<20 {
		t.Errorf("heap grew by %d KiB after 100 keys of 1 MB", grown>>10)
	}
}

// A flood of distinct keys never holds more than ratelimit.max_keys; a key
// in use is not the one evicted.
func TestKeyCountIsCapped(t *testing.T) {
	cfg := testConfig()
	cfg.MaxKeys = 1000
	cfg.IdleEvict.Duration = time.Hour
	l, reg := newTestLimiter(t, cfg)
	ctx := context.Background()
	active := Key{Scope: ScopeIP, ID: "192.0.2.1"}
	_ = l.Wait(ctx, active)
	kept := queueOf(l, active)
	touch := func() { // a use that does not spend the key's rate
		kept.mu.Lock()
		kept.lastUsed = time.Since(l.start)
		kept.mu.Unlock()
	}
	before := heapInUse()
	const flood = 100_000
	for i := range flood {
		if err := l.Wait(ctx, Key{Scope: ScopeIP, ID: fmt.Sprintf("2001:db8::%x:%x", i>>16, i&0xffff)}); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if i%16 == 0 {
			touch()
		}
	}
	after := heapInUse()
	if max := l.perShard * shards; l.Keys() > max || l.Keys() < 900 {
		t.Fatalf("%d keys held, want at most %d", l.Keys(), max)
	}
	if queueOf(l, active) != kept {
		t.Error("the key in use was evicted")
	}
	if got := metricValue(t, reg, "mgv_ratelimit_cap_evictions_total", "", ""); got < flood-1100 {
		t.Errorf("cap evictions %g, want about %d", got, flood-1000)
	}
	t.Logf("%d keys after %d distinct ones; heap in use %d KiB before, %d KiB after", l.Keys(), flood, before>>10, after>>10)
	if grown := int64(after) - int64(before); grown > 2<<20 {
		t.Errorf("heap grew by %d KiB", grown>>10)
	}
}

// When every key sampled in a full shard has callers waiting, a newcomer
// is refused rather than growing the map or dropping a waiting caller's
// place.
func TestFullShardOfBusyKeysRefusesNewcomers(t *testing.T) {
	cfg := testConfig()
	cfg.MaxKeys = shards // one key per shard
	l, _ := newTestLimiter(t, cfg)
	busy := Key{Scope: ScopeTenant, ID: "busy", Tier: "slow"}
	ctx, cancel := context.WithCancel(context.Background())
	wg := fill(t, ctx, l, busy, 2)
	defer wg.Wait()
	defer cancel()

	shardOf := func(id string) uint64 { return maphash.String(l.seed, id) % shards }
	var same, other string
	for i := 0; same == "" || other == ""; i++ {
		id := fmt.Sprint("t", i)
		if shardOf(id) == shardOf("busy") {
			same = id
		} else if other == "" {
			other = id
		}
	}
	err := l.Wait(context.Background(), Key{Scope: ScopeTenant, ID: same})
	var rej *Rejected
	if !errors.As(err, &rej) || rej.Scope != ScopeTenant || rej.RetryAfter <= 0 {
		t.Fatalf("newcomer in the busy shard: %v, want a refusal", err)
	}
	if queued(l, busy) != 2 {
		t.Fatalf("the busy key lost its waiters")
	}
	if err := l.Wait(context.Background(), Key{Scope: ScopeTenant, ID: other}); err != nil {
		t.Fatalf("newcomer in another shard: %v", err)
	}
	cancel()
	wg.Wait()
	// The pacer notices within one interval (1 s at 1 rps) that nobody waits.
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := l.Wait(context.Background(), Key{Scope: ScopeTenant, ID: same})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("once the busy key is idle, a newcomer takes its place: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if queueOf(l, busy) != nil || l.Keys() != 2 {
		t.Fatalf("the idle key was not the one replaced: %d keys", l.Keys())
	}
}
