package dao_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// queueSearchJobs writes n due jobs of a tenant and kind at once, due at
// due, on conversations from conv.
func queueSearchJobs(t *testing.T, db *gorm.DB, tenantID int64, kind string, conv int64, n int, due time.Time) {
	t.Helper()
	jobs := make([]model.OutboxJob, n)
	for i := range jobs {
		jobs[i] = model.OutboxJob{TenantID: tenantID, Kind: kind, ConversationID: conv + int64(i), NextAttemptAt: due, CreatedAt: due}
	}
	if err := db.CreateInBatches(&jobs, 500).Error; err != nil {
		t.Fatal(err)
	}
}

// A tenant's backlog of transcript jobs, however much older, does not keep
// another tenant's jobs out of a claim, nor a conversation job (a deletion)
// behind the transcript jobs: tenants take turns within the claim, and the
// two kinds are taken together in the order they fell due. Claims go on
// until the backlog is drained, each job once.
func TestSearchClaimTakesTurnsByTenantAndKind(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		search := dao.NewSearchOutbox(db)
		now := time.Now().UTC()
		const a, b = 1, 2
		queueSearchJobs(t, db, a, model.OutboxTranscript, 1000, 1000, now.Add(-time.Hour))
		queueSearchJobs(t, db, a, model.OutboxConversation, 5000, 3, now.Add(-time.Minute))
		queueSearchJobs(t, db, b, model.OutboxTranscript, 9000, 1, now.Add(-time.Second))
		queueSearchJobs(t, db, b, model.OutboxConversation, 9001, 1, now.Add(-time.Second))
		// Not due yet (a retry's backoff): no claim takes it.
		queueSearchJobs(t, db, b, model.OutboxConversation, 9002, 1, now.Add(time.Hour))

		jobs, err := search.Claim(ctx, 200, time.Minute)
		if err != nil || len(jobs) != 200 {
			t.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		kinds := map[int64]map[string]int{a: {}, b: {}}
		for _, j := range jobs {
			kinds[j.TenantID][j.Kind]++
			if j.Attempts != 1 || !j.NextAttemptAt.After(time.Now().Add(30*time.Second)) {
				t.Fatalf("job %d claimed with %d attempts, due %s", j.ID, j.Attempts, j.NextAttemptAt)
			}
		}
		if kinds[b][model.OutboxTranscript] != 1 || kinds[b][model.OutboxConversation] != 1 {
			t.Errorf("B's jobs in the claim: %v; want its transcript and its conversation job", kinds[b])
		}
		// A's conversation jobs fell due after its transcript jobs: A's
		// share is its 198 oldest, all transcripts.
		if kinds[a][model.OutboxTranscript] != 198 {
			t.Errorf("A's jobs in the claim: %v; want 198 transcripts", kinds[a])
		}

		// A's conversation jobs are claimed while 800 of its transcript
		// jobs are still due, once they are the oldest of A's.
		if err := db.Model(&model.OutboxJob{}).Where("tenant_id = ? AND kind = ?", a, model.OutboxConversation).
			Update("next_attempt_at", now.Add(-2*time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for _, j := range jobs {
			seen[j.ID] = true
		}
		next, err := search.Claim(ctx, 10, time.Minute)
		if err != nil || len(next) != 10 {
			t.Fatalf("second claim: %d jobs, %v", len(next), err)
		}
		conversations := 0
		for _, j := range next {
			if seen[j.ID] {
				t.Fatalf("job %d claimed twice", j.ID)
			}
			seen[j.ID] = true
			if j.Kind == model.OutboxConversation {
				conversations++
			}
		}
		if conversations != 3 {
			t.Errorf("A's conversation jobs in a claim while its transcripts are due: %d, want 3", conversations)
		}
		for {
			more, err := search.Claim(ctx, 200, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(more) == 0 {
				break
			}
			for _, j := range more {
				if seen[j.ID] {
					t.Fatalf("job %d claimed twice", j.ID)
				}
				seen[j.ID] = true
			}
		}
		if len(seen) != 1005 {
			t.Errorf("%d jobs claimed in all, want the 1005 due", len(seen))
		}
	})
}

// Many tenants with due work each get a job of a claim smaller than their
// number, those whose oldest job waited longest first; a tenant's share
// that it cannot fill goes to the others.
func TestSearchClaimSharesAmongManyTenants(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		search := dao.NewSearchOutbox(db)
		now := time.Now().UTC()
		for tenant := int64(1); tenant <= 6; tenant++ {
			queueSearchJobs(t, db, tenant, model.OutboxTranscript, tenant*100, 20, now.Add(-time.Duration(tenant)*time.Minute))
		}
		jobs, err := search.Claim(ctx, 4, time.Minute)
		if err != nil || len(jobs) != 4 {
			t.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		got := map[int64]int{}
		for _, j := range jobs {
			got[j.TenantID]++
		}
		for tenant := int64(3); tenant <= 6; tenant++ {
			if got[tenant] != 1 {
				t.Fatalf("jobs by tenant %v; want one each of tenants 3 to 6, whose jobs waited longest", got)
			}
		}
		emptyOutbox(t, db)
		queueSearchJobs(t, db, 1, model.OutboxTranscript, 100, 50, now.Add(-time.Minute))
		queueSearchJobs(t, db, 2, model.OutboxConversation, 200, 2, now)
		queueSearchJobs(t, db, 3, model.OutboxTranscript, 300, 5, now)
		jobs, err = search.Claim(ctx, 30, time.Minute)
		if err != nil || len(jobs) != 30 {
			t.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		got = map[int64]int{}
		for _, j := range jobs {
			got[j.TenantID]++
		}
		if got[1] != 23 || got[2] != 2 || got[3] != 5 {
			t.Errorf("jobs by tenant %v; want tenant 1 to take the share tenants 2 and 3 left (23, 2, 5)", got)
		}
	})
}

// Workers on two instances claim side by side, as fast as they can, while
// jobs keep coming: none fails (a deadlock on MySQL runs again; on SQLite
// the write lock is held for one statement, so no claim waits out the busy
// timeout) and no job is claimed twice. Once the last job is queued,
// claims go on until they find none.
func TestSearchClaimsOfTwoInstancesTakeEachJobOnce(t *testing.T) {
	twoInstances(t, func(t *testing.T, one, two *gorm.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		for tenant := int64(1); tenant <= 5; tenant++ {
			queueSearchJobs(t, one, tenant, model.OutboxTranscript, tenant*1000, 300, now.Add(-time.Minute))
			queueSearchJobs(t, one, tenant, model.OutboxConversation, tenant*1000+500, 20, now.Add(-time.Minute))
		}
		outbox := []*dao.SearchOutbox{dao.NewSearchOutbox(one), dao.NewSearchOutbox(two)}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			claimed = map[int64]int{}
			failed  []error
			queued  atomic.Bool
		)
		wg.Go(func() {
			defer queued.Store(true)
			for i := range 100 {
				if err := dao.NewOutbox(one).Enqueue(ctx, model.OutboxJob{TenantID: 6, Kind: model.OutboxTranscript, ConversationID: int64(9000 + i)}); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
		})
		for w := range 6 {
			wg.Go(func() {
				for empty := 0; empty < 3; {
					jobs, err := outbox[w%2].Claim(ctx, 50, time.Hour)
					mu.Lock()
					if err != nil {
						failed = append(failed, err)
					}
					for _, j := range jobs {
						claimed[j.ID]++
					}
					mu.Unlock()
					if len(jobs) == 0 {
						if queued.Load() {
							empty++
							time.Sleep(10 * time.Millisecond)
						}
					}
				}
			})
		}
		wg.Wait()
		if len(failed) > 0 {
			t.Fatalf("%d claims failed, the first: %v", len(failed), failed[0])
		}
		for id, n := range claimed {
			if n != 1 {
				t.Fatalf("job %d claimed %d times", id, n)
			}
		}
		if len(claimed) != 5*320+100 {
			t.Errorf("%d jobs claimed, want %d", len(claimed), 5*320+100)
		}
	})
}

// A claim lists the tenants' first jobs first, then their second ones, and
// stops once its conversations hold 100,000 sentences (but takes its first
// job): a tenant's long transcripts neither fill a claim the indexer cannot
// write within its lease nor push another tenant's job to the claim's end,
// which the lease cuts off.
func TestSearchClaimTakesTurnsWithinASentenceBudget(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		search := dao.NewSearchOutbox(db)
		now := time.Now().UTC()
		conv := func(tenant int64, origin string, sentences int) int64 {
			c := model.Conversation{TenantID: tenant, OriginConversationID: origin, OwnerUserID: 1, Channel: model.ChannelCall,
				Direction: model.DirectionInbound, Status: model.StatusPending, BeginTime: now, SentenceCount: sentences, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&c).Error; err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		for i := range 6 {
			queueSearchJobs(t, db, 1, model.OutboxTranscript, conv(1, fmt.Sprint("a", i), 30_000), 1, now.Add(-time.Hour+time.Duration(i)*time.Second))
		}
		b := conv(2, "b", 10)
		queueSearchJobs(t, db, 2, model.OutboxTranscript, b, 1, now.Add(-time.Second))
		queueSearchJobs(t, db, 2, model.OutboxConversation, 999_999, 1, now) // a deleted conversation's

		jobs, err := search.Claim(ctx, 200, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range jobs {
			got = append(got, fmt.Sprint(j.TenantID, j.Kind[:1]))
		}
		if want := "1t 2t 1t 2c 1t"; strings.Join(got, " ") != want {
			t.Errorf("claimed %q, want %q: turns by tenant, and A's jobs up to 100,000 sentences", strings.Join(got, " "), want)
		}
		// The rest is still due, and claimed next.
		jobs, err = search.Claim(ctx, 200, time.Minute)
		if err != nil || len(jobs) != 3 {
			t.Errorf("the next claim: %d jobs, %v; want A's other 3", len(jobs), err)
		}
		// A claim takes its first job whatever its size.
		emptyOutbox(t, db)
		queueSearchJobs(t, db, 1, model.OutboxTranscript, conv(1, "huge", 500_000), 1, now)
		if jobs, err := search.Claim(ctx, 200, time.Minute); err != nil || len(jobs) != 1 {
			t.Errorf("a claim of one conversation over the budget: %d jobs, %v", len(jobs), err)
		}
	})
}
