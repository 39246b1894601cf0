package audit

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// trimTrail is a Trail that records the trims asked of it; each tenant
// has old records to trim.
type trimTrail struct {
	Trail
	old    map[int64]int64
	before []time.Time
	fail   error
	// broken are the tenants whose oldest records do not verify.
	broken map[int64]bool
}

func (tr *trimTrail) Tenants(context.Context) ([]int64, error) { return []int64{0, 3, 9}, nil }

func (tr *trimTrail) Ends(_ context.Context, tenant int64) (ChainEnds, error) {
	return ChainEnds{Found: true, Head: Link{Seq: tenant + 40, Hash: "h"}, Anchor: Link{Hash: Genesis}}, nil
}

func (tr *trimTrail) Trim(_ context.Context, tenant int64, before time.Time, limit int) (int64, error) {
	if tr.fail != nil {
		return 0, tr.fail
	}
	if tr.broken[tenant] {
		return 0, &Broken{TenantID: tenant, ID: 7, Seq: 1, Why: "its contents do not match its hash"}
	}
	tr.before = append(tr.before, before)
	n := min(tr.old[tenant], int64(limit))
	tr.old[tenant] -= n
	return n, nil
}

func TestTrimmerRoundIsBounded(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	trail := &trimTrail{old: map[int64]int64{0: 5, 3: 2500, 9: 100000}}
	var logs bytes.Buffer
	tr := NewTrimmer(trail, zerolog.New(&logs), TrimOptions{Retention: 180 * 24 * time.Hour, Batch: 1000, Batches: 10})
	tr.now = func() time.Time { return now }
	n, err := tr.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Tenant 0 and 3 are trimmed to the cut-off; tenant 9 by at most ten
	// batches this round, the rest next round.
	if n != 5+2500+10000 || trail.old[0] != 0 || trail.old[3] != 0 || trail.old[9] != 90000 {
		t.Fatalf("trimmed %d, left %v", n, trail.old)
	}
	for _, b := range trail.before {
		if !b.Equal(now.Add(-180 * 24 * time.Hour)) {
			t.Fatalf("cut-off %v", b)
		}
	}
	if got := testutil.ToFloat64(tr.trimmed); got != float64(n) {
		t.Fatalf("metric %v, want %d", got, n)
	}
	// Each round logs every chain's ends, a copy outside the database.
	if !strings.Contains(logs.String(), `"tenant":9,"head_seq":49,"head_hash":"h"`) {
		t.Fatalf("chain ends not logged:\n%s", logs.String())
	}
	// A chain whose oldest records do not verify is not trimmed, and the
	// others are.
	trail.old = map[int64]int64{0: 5, 3: 5, 9: 5}
	trail.broken = map[int64]bool{3: true}
	var b *Broken
	if n, err := tr.Round(context.Background()); !errors.As(err, &b) || b.TenantID != 3 || n != 10 || trail.old[3] != 5 {
		t.Fatalf("a broken chain: trimmed %d, left %v, %v", n, trail.old, err)
	}
	trail.fail = errors.New("database unavailable")
	if _, err := tr.Round(context.Background()); err == nil {
		t.Fatal("a failing trim was not reported")
	}
}

func TestTrimmerStartStop(t *testing.T) {
	trail := &trimTrail{old: map[int64]int64{3: 10}}
	tr := NewTrimmer(trail, zerolog.Nop(), TrimOptions{Retention: time.Hour, Every: time.Hour})
	tr.Start()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(tr.trimmed) < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	tr.Stop()
	tr.Stop()
	if got := testutil.ToFloat64(tr.trimmed); got != 10 {
		t.Fatalf("the first round at start trimmed %v, want 10", got)
	}
}
