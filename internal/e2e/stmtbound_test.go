//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// withOperationTimeout bounds operation op at d in the service's config.
func withOperationTimeout(t *testing.T, s *Service, op string, d time.Duration) {
	t.Helper()
	cfg, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, fmt.Sprintf("\n[timeouts]\n%q = %q\n", op, d)...)
	if err := os.WriteFile(s.ConfigPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

// queryTimeoutMsg is what a client reads when the database ended a query
// at the operation's deadline.
const queryTimeoutMsg = "the query took longer than the operation allows; narrow the filters or the time range"

// A request that times out takes its statement with it: the database ends
// the statement at the operation's deadline, rather than scanning on after
// the 504 for as long as the scan takes. Here an audit-log read filtered
// by an operation no record has (no index: every record is read) of
// 1,000,000 records, with a 1 s timeout for the operation.
func TestTimedOutRequestsStatementEndsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	withOperationTimeout(t, s, "/mgv.web.v1.AuditService/ListAuditLogs", time.Second)
	f := NewFixture(t, s)
	if err := f.DB.Exec(`INSERT INTO audit_logs (tenant_id,seq,occurred_at,actor_kind,actor_id,client_addr,operation,target_type,target_id,result,request_id,prev_hash,hash)
		SELECT ?, 10000000+seq, NOW(3) - INTERVAL seq SECOND, 'user', ?, '127.0.0.1', 'transcript.read', 'conversation', CAST(seq AS CHAR), 'ok', MD5(seq), REPEAT('a',64), REPEAT('b',64)
		FROM seq_1_to_1000000`, f.Tenant.ID, f.Reps[0].ID).Error; err != nil {
		t.Fatal(err)
	}
	s.Start()
	admin := f.Token(t, f.Admin)
	start := time.Now()
	r := authCall(t, s, http.MethodGet, "/api/v1/audit-logs?operation=auth.login", admin, nil)
	took := time.Since(start)
	if r.Status != http.StatusGatewayTimeout || r.Reason != "DEADLINE_EXCEEDED" || r.Msg != queryTimeoutMsg {
		t.Fatalf("after %s: %d %s %q, want 504 DEADLINE_EXCEEDED %q", took, r.Status, r.Reason, r.Msg, queryTimeoutMsg)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("answered after %s, want about the operation's timeout of 1s", took)
	}
	answered := time.Now()
	for {
		var n int64
		if err := f.DB.Raw(`SELECT COUNT(*) FROM information_schema.processlist
			WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE '%FROM ` + "`audit_logs`" + `%'`).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Since(answered) > time.Second {
			t.Fatalf("the request's statement still runs %s after its 504", time.Since(answered))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The database answered: the breakers stay closed.
	if strings.Contains(s.Stderr.String(), `"to":"open"`) {
		t.Errorf("a breaker opened:\n%s", s.Stderr)
	}
}

// One tenant's heavy statistics, each ended by the database at the
// operation's deadline, are the database answering: they open neither the
// database's breaker, which every tenant shares, nor the operation's, and
// another tenant is served meanwhile. Here tenant A's app asks for a year
// of rep statistics over 200,000 conversations, 8 at a time, with a 1 s
// timeout for the operation.
func TestHeavyStatisticsLeaveTheDatabaseBreakerClosedOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	withOperationTimeout(t, s, "/mgv.open.v1.StatsService/GetRepStats", time.Second)
	a, b := NewFixture(t, s), NewFixture(t, s)
	seedCalls(t, a, 200_000, 150*time.Second)
	s.Start()
	app, bToken := a.AppToken(t), b.Token(t, b.Admin)
	from := time.Now().UTC().AddDate(0, 0, -365).Format(time.RFC3339)
	to := time.Now().UTC().AddDate(0, 0, 1).Format(time.RFC3339)
	stop := time.Now().Add(8 * time.Second)
	var mu sync.Mutex
	aAnswers := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				r, err := tryCall(s, http.MethodGet, "/api/v1/stats/reps?from="+from+"&to="+to, app, nil)
				answer := fmt.Sprint(err)
				if err == nil {
					answer = fmt.Sprintf("%d %s %s", r.Status, r.Reason, r.Msg)
				}
				mu.Lock()
				aAnswers[answer]++
				mu.Unlock()
			}
		}()
	}
	bAnswers := map[string]int{}
	for time.Sleep(time.Second); time.Now().Before(stop); time.Sleep(250 * time.Millisecond) {
		r, err := tryCall(s, http.MethodGet, "/api/v1/conversations?page_size=1", bToken, nil)
		answer := fmt.Sprint(err)
		if err == nil {
			answer = fmt.Sprintf("%d %s", r.Status, r.Reason)
		}
		bAnswers[answer]++
	}
	wg.Wait()
	t.Logf("tenant A's statistics: %v", aAnswers)
	t.Logf("tenant B's lists meanwhile: %v", bAnswers)
	for _, line := range strings.Split(s.Stderr.String(), "\n") {
		if strings.Contains(line, `"to":"open"`) {
			t.Errorf("a breaker opened: %s", line)
		}
	}
	for answer := range bAnswers {
		if answer != "200 " {
			t.Errorf("tenant B's list answered %q while A's statistics ran", answer)
		}
	}
	// On a busy host the database's answer may now and then come after
	// the deadline all the same: a few such 504s are the database failing
	// to answer in time, too few to open its breaker.
	timedOut := fmt.Sprintf("%d DEADLINE_EXCEEDED %s", http.StatusGatewayTimeout, queryTimeoutMsg)
	late := fmt.Sprintf("%d DEADLINE_EXCEEDED the request took too long", http.StatusGatewayTimeout)
	if aAnswers[timedOut] < 20 {
		t.Fatalf("tenant A's statistics did not time out in the database (%v); seed more conversations", aAnswers)
	}
	if aAnswers[late] > aAnswers[timedOut]/10 {
		t.Errorf("%d of tenant A's statistics ended at the deadline without the database's answer", aAnswers[late])
	}
	for answer := range aAnswers {
		if answer != timedOut && answer != late && !strings.HasPrefix(answer, "200 ") {
			t.Errorf("tenant A's statistics answered %q", answer)
		}
	}
}
