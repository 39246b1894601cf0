//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/model"
)

// searchFound is the total of a search for query as token (-1 on an error).
func searchFound(t *testing.T, s *Service, token, query string) int64 {
	t.Helper()
	r := searchAs(t, s, token, map[string]any{"query": query})
	if r.Status != http.StatusOK {
		return -1
	}
	var p searchPage
	r.decode(t, &p)
	return p.Total
}

// The indexer's claims give each tenant with due jobs its share: one
// tenant's backlog of transcript jobs, all older, neither keeps another
// tenant's new transcript out of the index until it is worked off, nor its
// deleted conversation in the index until no transcript job of anyone's is
// due. The indexer is paced (2 bulk requests a second, one worker) so that
// tenant A's 6,000 jobs take about 15 s.
func TestSearchIndexerServesTenantsInTurnOnElasticsearchAndMariaDB(t *testing.T) {
	testIndexerTurns(t, esEnv(t, mysqlEnv(t)))
}

// The same on the embedded database and search engine.
func TestSearchIndexerServesTenantsInTurnEmbedded(t *testing.T) {
	testIndexerTurns(t, map[string]string{})
}

func testIndexerTurns(t *testing.T, env map[string]string) {
	env["MGV_SEARCH_BULK_RPS"] = "2"
	env["MGV_SEARCH_INDEXER_WORKERS"] = "1"
	s := NewService(t, env)
	fa := NewFixture(t, s)
	fb := NewFixture(t, s)
	s.Start()
	adminB := fb.Token(t, fb.Admin)
	pa := newPartner(t, s.GRPC(), fa.AppToken(t))
	pb := newPartner(t, s.GRPC(), fb.AppToken(t))
	begin := time.Now().Add(-25 * time.Hour)
	short := func(tag string) []*openv1.Sentence {
		return []*openv1.Sentence{sentence(0, "rep", "hello "+tag), sentence(1, "cust", "我们今年的预算有限")}
	}

	// B's conversation to delete, indexed.
	delTag := newTag()
	del := pb.create("del-"+delTag, fb.Reps[0].ID, begin, 86_400_000, nil)
	if _, err := pb.put(del, short(delTag), 10); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, adminB, delTag, 1, 30*time.Second)

	// A's conversations, indexed; then a backlog of 6,000 transcript jobs
	// on them, due a minute ago, as a burst of A's ingest leaves.
	var convs []int64
	long := make([]*openv1.Sentence, 300)
	for k := range long {
		long[k] = sentence(int64(k), "rep", fmt.Sprintf("%d 我们今年的预算有限但是很想买", k))
	}
	for i := range 8 {
		id := pa.create(fmt.Sprintf("noisy-%d", i), fa.Reps[0].ID, begin, 86_400_000, nil)
		if _, err := pa.put(id, long, 100); err != nil {
			t.Fatal(err)
		}
		convs = append(convs, id)
	}
	pendingA := func() int64 {
		var n int64
		if err := fa.DB.Model(&model.OutboxJob{}).Where("tenant_id = ?", fa.Tenant.ID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	for start := time.Now(); pendingA() > 0; time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("A's transcripts not indexed within 30 s: %d jobs pending", pendingA())
		}
	}
	due := time.Now().UTC().Add(-time.Minute)
	backlog := make([]model.OutboxJob, 6000)
	for i := range backlog {
		backlog[i] = model.OutboxJob{TenantID: fa.Tenant.ID, Kind: model.OutboxTranscript, ConversationID: convs[i%len(convs)],
			NextAttemptAt: due, CreatedAt: due}
	}
	if err := fa.DB.CreateInBatches(&backlog, 1000).Error; err != nil {
		t.Fatal(err)
	}

	// B writes a transcript and deletes a conversation.
	yTag := newTag()
	y := pb.create("y-"+yTag, fb.Reps[0].ID, begin, 86_400_000, nil)
	t0 := time.Now()
	if _, err := pb.put(y, short(yTag), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.conv.DeleteConversation(pb.ctx, &openv1.DeleteConversationRequest{ConversationId: del}); err != nil {
		t.Fatal(err)
	}
	const bound = 8 * time.Second
	var put, gone time.Duration
	for put == 0 || gone == 0 {
		if time.Since(t0) > bound {
			t.Fatalf("after %s, with %d of A's jobs pending: B's transcript searchable %v, B's deleted conversation gone from search %v; want both within %s",
				time.Since(t0).Round(time.Millisecond), pendingA(), put > 0, gone > 0, bound)
		}
		if put == 0 && searchFound(t, s, adminB, yTag) == 1 {
			put = time.Since(t0)
		}
		if gone == 0 && searchFound(t, s, adminB, delTag) == 0 {
			gone = time.Since(t0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A's backlog is still being worked: B did not wait for it.
	if n := pendingA(); n < 1000 {
		t.Errorf("A's jobs pending when B's were done: %d; the test's backlog ran out too soon to show B's turn", n)
	}
	t.Logf("B's transcript searchable after %s, its deleted conversation gone after %s; A's jobs pending %d",
		put.Round(time.Millisecond), gone.Round(time.Millisecond), pendingA())
}
