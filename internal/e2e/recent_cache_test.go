//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/http/controller"
)

// recentHeld is what instance s keeps of tenant's transcripts in memory
// for its indexer, by its gauges: entries and bytes.
func recentHeld(t *testing.T, s *Service, tenant int64) (entries, bytes float64) {
	t.Helper()
	label := fmt.Sprintf(`{tenant_id="%d"}`, tenant)
	return metricValue(t, s, "mgv_search_recent_transcripts"+label), metricValue(t, s, "mgv_search_recent_transcript_bytes"+label)
}

// waitRecentGone waits until s keeps nothing of tenant and returns how long
// that took since since.
func waitRecentGone(t *testing.T, s *Service, tenant int64, since time.Time, timeout time.Duration, what string) time.Duration {
	t.Helper()
	for {
		n, b := recentHeld(t, s, tenant)
		if n == 0 && b == 0 {
			return time.Since(since)
		}
		if time.Since(since) > timeout {
			t.Fatalf("%s: instance A still keeps %v transcripts (%v bytes) of the tenant %s later", what, n, b, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// R12 across a fleet: instance A ingests, so its indexer keeps the
// transcripts in memory; A is paced to one small batch a second, so
// instance B indexes most of them and A's own indexer never lets those go.
// Conversations deleted through B, and a person erased through B, leave
// A's memory within a sweep, as A's per-tenant gauge shows, and by the
// sweep (its forgotten count), not the ttl; the erasure reports done only
// after the fleet's bound (B's recent_ttl + recent_sweep). A third
// tenant's transcripts, deleted nowhere, leave A's memory within A's
// recent_ttl + recent_sweep of their commit.
func TestR12DeletionClearsAnotherInstancesMemory(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	env["MGV_PRIVACY_CONFIRM_OVER"] = "100"
	const ttlA, sweepA = 30 * time.Second, 500 * time.Millisecond
	envA := maps.Clone(env)
	for k, v := range map[string]string{
		"MGV_SEARCH_BATCH_SIZE": "1", "MGV_SEARCH_BULK_RPS": "1", "MGV_SEARCH_INDEXER_WORKERS": "1",
		"MGV_SEARCH_RECENT_TTL": ttlA.String(), "MGV_SEARCH_RECENT_SWEEP": sweepA.String(),
	} {
		envA[k] = v
	}
	a, b := NewService(t, envA), NewService(t, env)
	deleted, erased, kept := NewFixture(t, a), NewFixture(t, a), NewFixture(t, a)
	a.Start()
	b.Start()
	const n = 10
	tag := fmt.Sprintf("%06d", rand.N(1_000_000))

	// Tenant three: calls nobody deletes.
	wordsK := "keptproject" + tag
	customerCalls(t, newPartner(t, a.GRPC(), kept.AppToken(t)), kept, "客户Li"+tag, "we plan "+wordsK, "k"+tag, n)
	keptAt := time.Now()

	// Tenant one: calls deleted one by one through B.
	adminD := deleted.Token(t, deleted.Admin)
	wordsD := "deletedproject" + tag
	ids := customerCalls(t, newPartner(t, a.GRPC(), deleted.AppToken(t)), deleted, "客户Qian"+tag, "we plan "+wordsD, "d"+tag, n)
	// Tenant two: a customer erased through B.
	adminE := erased.Token(t, erased.Admin)
	name, wordsE := "客户Sun"+tag, "erasedproject"+tag
	customerCalls(t, newPartner(t, a.GRPC(), erased.AppToken(t)), erased, name, "we plan "+wordsE, "e"+tag, n)
	waitSearch(t, b, adminD, wordsD, n, 60*time.Second)
	waitSearch(t, b, adminE, wordsE, n, 60*time.Second)
	waitSearch(t, b, kept.Token(t, kept.Admin), wordsK, n, 60*time.Second)
	if held, _ := recentHeld(t, a, kept.Tenant.ID); held == 0 && time.Since(keptAt) < ttlA {
		t.Fatal("A keeps nothing of tenant three once B indexed it: the ttl check below would prove nothing")
	}
	heldD, bytesD := recentHeld(t, a, deleted.Tenant.ID)
	heldE, bytesE := recentHeld(t, a, erased.Tenant.ID)
	t.Logf("searchable everywhere; A still keeps %v transcripts (%v bytes) of tenant one, %v (%v bytes) of tenant two", heldD, bytesD, heldE, bytesE)
	if heldD == 0 || heldE == 0 || bytesD == 0 || bytesE == 0 {
		t.Fatal("A keeps nothing of a tenant once B indexed it: the checks below would prove nothing")
	}
	forgotten := metricValue(t, a, "mgv_search_recent_transcripts_forgotten_total")

	at := time.Now()
	for _, id := range ids {
		authCall(t, b, http.MethodDelete, fmt.Sprintf("/api/v1/conversations/%d", id), adminD, nil).want(t, http.StatusOK, "")
	}
	deletes := time.Since(at)
	took := waitRecentGone(t, a, deleted.Tenant.ID, at, 20*time.Second, "conversations deleted through B")
	t.Logf("%d deletions through B took %s; A let the transcripts go %s after the first", n, deletes.Round(time.Millisecond), took.Round(time.Millisecond))
	// A's own indexer, at one batch of one a second, may have let one go
	// a second as it found its conversation deleted; the sweep did the rest.
	swept := metricValue(t, a, "mgv_search_recent_transcripts_forgotten_total") - forgotten
	if own := 1 + math.Floor(took.Seconds()); swept < heldD-own || swept < 1 {
		t.Errorf("A's sweep forgot %v transcripts of the %v it kept", swept, heldD)
	}
	t.Logf("A's sweep forgot %v of the %v transcripts", swept, heldD)

	var e controller.ErasureJSON
	at = time.Now()
	authCall(t, b, http.MethodPost, "/api/v1/privacy/erasures", adminE, map[string]any{"name": name}).want(t, http.StatusAccepted, "").decode(t, &e)
	gone := waitRecentGone(t, a, erased.Tenant.ID, at, 20*time.Second, "person erased through B")
	done := waitErasure(t, b, adminE, e.ID, 60*time.Second)
	finished := time.Since(at)
	if done.ConversationsDeleted != n {
		t.Errorf("erased %d of %d conversations", done.ConversationsDeleted, n)
	}
	if n, bytes := recentHeld(t, a, erased.Tenant.ID); n != 0 || bytes != 0 {
		t.Errorf("the erasure is done and A keeps %v transcripts (%v bytes) of the tenant", n, bytes)
	}
	// B's bound is the test config's recent_ttl 5s + recent_sweep 500ms.
	if bound := 5500 * time.Millisecond; finished < bound {
		t.Errorf("the erasure was done %s after it started, before the fleet's bound %s", finished, bound)
	}
	t.Logf("erasure through B: A let the transcripts go %s after it started; the job was done after %s", gone.Round(time.Millisecond), finished.Round(time.Millisecond))

	// Deleted nowhere, tenant three's transcripts expire. keptAt is after
	// the last commit; 2 s of slack for a loaded machine's sweep.
	expired := waitRecentGone(t, a, kept.Tenant.ID, keptAt, ttlA+sweepA+2*time.Second, "transcripts past A's recent_ttl")
	t.Logf("tenant three's transcripts left A's memory %s after the last commit (recent_ttl %s)", expired.Round(time.Millisecond), ttlA)
}
