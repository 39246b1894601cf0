//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A tenant within its rate that asks for a year of statistics many times
// at once, on a large history, runs at most its tier's heavy_calls of them
// at once on an instance: the rest wait in line or are refused with 429,
// and another tenant's lists are answered meanwhile. Seen
// from the database: no more than heavy_calls of the tenant's statements
// run at any moment.
func TestATenantsHeavyCallsAreBoundedOnMariaDB(t *testing.T) {
	const heavyCalls, callers = 2, 12
	s := NewService(t, mysqlEnv(t))
	editFile(t, s.ConfigPath, "heavy_calls = 16", fmt.Sprintf("heavy_calls = %d", heavyCalls))
	f := NewFixture(t, s)
	fb := NewFixture(t, s)
	seedCalls(t, f, 300_000, time.Minute)
	s.Start()
	app, b := f.AppToken(t), fb.Token(t, fb.Admin)
	year := fmt.Sprintf("/api/v1/stats/reps?from=%s&to=%s",
		time.Now().UTC().AddDate(-1, 0, 0).Format(time.RFC3339), time.Now().UTC().AddDate(0, 0, 1).Format(time.RFC3339))

	// How many statistics statements run at once, sampled from the
	// server's own list of what it is running: only tenant A asks for
	// statistics.
	stop := make(chan struct{})
	var most atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var n int64
			if err := f.DB.Raw(`SELECT COUNT(*) FROM information_schema.processlist
				WHERE db = DATABASE() AND command IN ('Query', 'Execute') AND info LIKE '%SUM(m.longest_monologue_ms)%' AND id <> CONNECTION_ID()`).Scan(&n).Error; err != nil {
				t.Error(err)
				return
			}
			if n > most.Load() {
				most.Store(n)
			}
		}
	}()

	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	until := time.Now().Add(15 * time.Second)
	for range callers {
		wg.Go(func() {
			for time.Now().Before(until) {
				r, err := tryCall(s, http.MethodGet, year, app, nil)
				key := "error"
				if err == nil {
					key = fmt.Sprintf("%d %s", r.Status, r.Reason)
				}
				mu.Lock()
				codes[key]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)
	bCodes := map[int]int{}
	for time.Now().Before(until) {
		for _, path := range []string{"/api/v1/conversations?page_size=1", "/api/v1/conversations?page_size=100"} {
			r, err := tryCall(s, http.MethodGet, path, b, nil)
			if err != nil {
				t.Fatalf("tenant B's %s: %v", path, err)
			}
			bCodes[r.Status]++
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	close(stop)
	<-sampled
	t.Logf("tenant A, %d callers for 15 s: %v; tenant B: %v; most of A's statements at once: %d", callers, codes, bCodes, most.Load())
	if most.Load() > heavyCalls {
		t.Errorf("%d of tenant A's statements ran at once, want at most heavy_calls = %d", most.Load(), heavyCalls)
	}
	if most.Load() == 0 {
		t.Errorf("no statement of tenant A was seen running: the history is too small to show anything")
	}
	if codes["429 RATE_LIMITED"] == 0 {
		t.Errorf("none of tenant A's %d callers was refused with 429 RATE_LIMITED, want the calls past %d waiting and running refused", callers, 2*heavyCalls)
	}
	if len(bCodes) != 1 || bCodes[http.StatusOK] == 0 {
		t.Errorf("tenant B got %v, want every call answered 200", bCodes)
	}
}

// seedCalls gives f's tenant n calls of its four reps without
// transcripts, one every spacing back from now, written by MariaDB itself
// (its sequence engine): a history large enough that a year of its
// statistics takes the database a second or more.
func seedCalls(t *testing.T, f *Fixture, n int, spacing time.Duration) {
	t.Helper()
	err := f.DB.Exec(fmt.Sprintf(`INSERT INTO conversations (tenant_id,origin_conversation_id,owner_user_id,channel,direction,begin_time,duration_ms,status,custom_data,request_hash,transcript_version,sentence_count,created_at,updated_at)
		SELECT ?, CONCAT('bulk-',seq), ? + (seq %% 4), 'call', IF(seq%%2=0,'inbound','outbound'), NOW(3) - INTERVAL (seq*?) SECOND, 60000+(seq%%600000), 'ready', '{}', '', 0, 0, NOW(3), NOW(3)
		FROM seq_1_to_%d`, n), f.Tenant.ID, f.Reps[0].ID, int64(spacing/time.Second)).Error
	if err != nil {
		t.Fatal(err)
	}
}
