package limit

import (
	"context"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/config"
)

func TestFleetShareDividesTenantAndAppTiers(t *testing.T) {
	l, reg := newTestLimiter(t, testConfig())
	if n, known := l.Share(); n != 1 || known {
		t.Fatalf("a new limiter's share is %d (known %v), want 1 assumed", n, known)
	}
	if v := metricValue(t, reg, "mgv_ratelimit_fleet_unknown", "", ""); v != 1 {
		t.Errorf("mgv_ratelimit_fleet_unknown = %v before the fleet is known, want 1", v)
	}
	tenant := Key{Scope: ScopeTenant, ID: "t", Tier: "premium"} // 20 rps, burst 4
	app := Key{Scope: ScopeApp, ID: "a"}                        // standard: 10 rps, burst 2
	anon := Key{Scope: ScopeIP, ID: "192.0.2.1"}                // 5 rps, burst 1

	cases := []struct {
		n                                  int
		tenantEvery, appEvery, anonEvery   time.Duration
		tenantBurst, appBurst, wantInFleet int
	}{
		{n: 1, tenantEvery: 50 * time.Millisecond, appEvery: 100 * time.Millisecond, anonEvery: 200 * time.Millisecond, tenantBurst: 4, appBurst: 2, wantInFleet: 1},
		{n: 2, tenantEvery: 100 * time.Millisecond, appEvery: 200 * time.Millisecond, anonEvery: 200 * time.Millisecond, tenantBurst: 2, appBurst: 1, wantInFleet: 2},
		{n: 3, tenantEvery: 150 * time.Millisecond, appEvery: 300 * time.Millisecond, anonEvery: 200 * time.Millisecond, tenantBurst: 2, appBurst: 1, wantInFleet: 3},
		{n: 0, tenantEvery: 50 * time.Millisecond, appEvery: 100 * time.Millisecond, anonEvery: 200 * time.Millisecond, tenantBurst: 4, appBurst: 2, wantInFleet: 1},
	}
	for _, c := range cases {
		l.SetFleet(c.n)
		if n, known := l.Share(); n != c.wantInFleet || !known {
			t.Errorf("SetFleet(%d): share %d (known %v), want %d known", c.n, n, known, c.wantInFleet)
		}
		for _, k := range []struct {
			key   Key
			every time.Duration
			burst int
		}{{tenant, c.tenantEvery, c.tenantBurst}, {app, c.appEvery, c.appBurst}, {anon, c.anonEvery, 1}} {
			_, r := l.resolve(k.key)
			q := r.queue(nil)
			if q.interval != k.every || q.capacity != k.burst {
				t.Errorf("SetFleet(%d), %s key: one call every %v with %d waiting, want every %v with %d",
					c.n, k.key.Scope, q.interval, q.capacity, k.every, k.burst)
			}
		}
		if v := metricValue(t, reg, "mgv_ratelimit_fleet_instances", "", ""); v != float64(c.wantInFleet) {
			t.Errorf("SetFleet(%d): mgv_ratelimit_fleet_instances = %v", c.n, v)
		}
		if v := metricValue(t, reg, "mgv_ratelimit_fleet_share", "", ""); v != 1/float64(c.wantInFleet) {
			t.Errorf("SetFleet(%d): mgv_ratelimit_fleet_share = %v", c.n, v)
		}
		if v := metricValue(t, reg, "mgv_ratelimit_fleet_unknown", "", ""); v != 0 {
			t.Errorf("SetFleet(%d): mgv_ratelimit_fleet_unknown = %v, want 0", c.n, v)
		}
	}

	l.SetFleet(4)
	l.PerInstance()
	if n, known := l.Share(); n != 1 || known {
		t.Errorf("after PerInstance the share is %d (known %v), want 1 assumed", n, known)
	}
	if v := metricValue(t, reg, "mgv_ratelimit_fleet_unknown", "", ""); v != 1 {
		t.Errorf("mgv_ratelimit_fleet_unknown = %v after PerInstance, want 1", v)
	}
}

// A key's calls move to a queue at the new pace as soon as the share
// changes, so a fleet that grows does not wait for the key to go idle.
func TestFleetChangeTakesANewQueue(t *testing.T) {
	l, _ := newTestLimiter(t, testConfig())
	k := Key{Scope: ScopeTenant, ID: "t"}
	if err := l.Wait(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	whole := queueOf(l, k)
	l.SetFleet(2)
	if err := l.Wait(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	half := queueOf(l, k)
	if half == nil || half == whole || half.interval != 2*whole.interval {
		t.Fatalf("after SetFleet(2) the key paces every %v, want %v", half.interval, 2*whole.interval)
	}
	if l.Keys() != 2 {
		t.Errorf("%d keys held, want the old queue (evicted when idle) and the new one", l.Keys())
	}
}

func TestAdmittedRateIsTheFleetShare(t *testing.T) {
	cfg := testConfig()
	cfg.Tiers["hundred"] = config.Tier{RPS: 100, Burst: 20}
	l, _ := newTestLimiter(t, cfg)
	l.SetFleet(2)

	admitted, refused := offer(l, Key{Scope: ScopeTenant, ID: "t", Tier: "hundred"}, 2*time.Second)
	// Half of 100 a second for 2s: 100. Never more; fewer only if the
	// machine starves the pacer.
	if admitted < 70 || admitted > 106 {
		t.Errorf("admitted %d in 2s at half of 100/s, want about 100 (refused %d)", admitted, refused)
	}
	if refused == 0 {
		t.Error("more than the share was offered and nothing was refused")
	}
}
