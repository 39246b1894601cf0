package dao_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/tracker"
	"github.com/megaview/mgvcore/internal/model"
)

// Tenants take turns at the tracker jobs, a job at a time, across two
// instances: a tenant that queued many jobs first does not make the others
// wait for all of them.
func TestTrackerJobsTakeTurnsByTenant(t *testing.T) {
	twoInstances(t, func(t *testing.T, one, two *gorm.DB) {
		ctx := context.Background()
		tenants := []model.Tenant{{Name: "A", Timezone: "UTC", RateTier: "standard"}, {Name: "B", Timezone: "UTC", RateTier: "standard"},
			{Name: "C", Timezone: "UTC", RateTier: "standard"}}
		if err := one.Create(&tenants).Error; err != nil {
			t.Fatal(err)
		}
		name := map[int64]string{}
		repo := dao.NewTrackers(one)
		queue := func(tenant model.Tenant, n int) {
			name[tenant.ID] = tenant.Name
			for i := range n {
				tr := &model.Tracker{TenantID: tenant.ID, Name: fmt.Sprint(tenant.Name, i), Keywords: `["price"]`, Affiliation: model.AffiliationAnyone}
				if err := repo.CreateTracker(ctx, tr, 0); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(3 * time.Millisecond) // a later millisecond for the next tenant's jobs
		}
		queue(tenants[0], 6)
		queue(tenants[1], 2)
		queue(tenants[2], 1)

		// Nine claims, alternating between the instances; none finishes, as
		// if every worker were busy with its job.
		jobs := []*dao.TrackerJobs{dao.NewTrackerJobs(one), dao.NewTrackerJobs(two)}
		var order []string
		for i := range 10 {
			job, err := jobs[i%2].ClaimTrackerJob(ctx, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if job == nil {
				break
			}
			order = append(order, name[job.TenantID])
			time.Sleep(3 * time.Millisecond)
		}
		if got, want := strings.Join(order, ""), "ABCABAAAA"; got != want {
			t.Fatalf("claimed by tenant %s, want %s", got, want)
		}

		// Eight workers on the two instances claim 40 more jobs at once:
		// none fails (no deadlock between turns) and none is claimed twice.
		queue(tenants[0], 25)
		queue(tenants[1], 15)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			claimed = map[int64]int{}
			failed  []error
		)
		for w := range 8 {
			wg.Go(func() {
				for {
					job, err := jobs[w%2].ClaimTrackerJob(ctx, time.Hour)
					mu.Lock()
					if err != nil {
						failed = append(failed, err)
					} else if job != nil {
						claimed[job.ID]++
					}
					mu.Unlock()
					if err != nil || job == nil {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(failed) > 0 || len(claimed) != 40 {
			t.Fatalf("%d jobs claimed, failures %v", len(claimed), failed)
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("job %d claimed %d times", id, n)
			}
		}
	})
}

// sleepPacer lets a batch start every d.
type sleepPacer time.Duration

func (p sleepPacer) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(p)):
		return nil
	}
}

// A tracker over more conversations than a turn covers does not hold the
// only worker until it is done: at the end of its turn the job goes back
// in line with its progress, another tenant's job queued meanwhile runs,
// and then the long one goes on from where it stopped to its end.
func TestALongTrackerJobTakesTurns(t *testing.T) {
	twoInstances(t, func(t *testing.T, one, two *gorm.DB) {
		ctx := context.Background()
		tenants := []model.Tenant{{Name: "A", Timezone: "UTC", RateTier: "standard"}, {Name: "B", Timezone: "UTC", RateTier: "standard"}}
		if err := one.Create(&tenants).Error; err != nil {
			t.Fatal(err)
		}
		const convs = 40
		for i := range convs {
			c := model.Conversation{TenantID: tenants[0].ID, OriginConversationID: fmt.Sprint("long-", i), Channel: "call", Direction: "inbound",
				BeginTime: time.Now().UTC(), Status: "ready", CustomData: "{}"}
			if err := one.Create(&c).Error; err != nil {
				t.Fatal(err)
			}
		}
		repo := dao.NewTrackers(one)
		long := &model.Tracker{TenantID: tenants[0].ID, Name: "long", Keywords: `["price"]`, Affiliation: model.AffiliationAnyone}
		if err := repo.CreateTracker(ctx, long, 0); err != nil {
			t.Fatal(err)
		}
		// One worker, a conversation a batch, 5 ms between batches: the
		// long job needs 200 ms and more, its turn is 50 ms.
		applier := tracker.NewApplier(dao.NewTrackerJobs(two), zerolog.Nop(), tracker.ApplierOptions{
			Workers: 1, BatchSize: 1, Pacer: sleepPacer(5 * time.Millisecond), Poll: 5 * time.Millisecond, Turn: 50 * time.Millisecond,
		})
		applier.Start(ctx)
		defer applier.Stop()
		job := func(tr *model.Tracker) (cursor int64, pending bool) {
			t.Helper()
			var rows []model.OutboxJob
			if err := one.Where("kind = ? AND tracker_id = ?", model.OutboxTrackerApply, tr.ID).Find(&rows).Error; err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 {
				return 0, false
			}
			return rows[0].ConversationID, true
		}
		waitFor := func(what string, done func() bool) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); !done(); time.Sleep(2 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: not within 10 s", what)
				}
			}
		}
		waitFor("the long job starts", func() bool { c, _ := job(long); return c > 0 })

		short := &model.Tracker{TenantID: tenants[1].ID, Name: "short", Keywords: `["budget"]`, Affiliation: model.AffiliationAnyone}
		if err := repo.CreateTracker(ctx, short, 0); err != nil {
			t.Fatal(err)
		}
		waitFor("the other tenant's job is done", func() bool { _, p := job(short); return !p })
		if _, pending := job(long); !pending {
			t.Fatal("the other tenant's job ran only once the long job was done")
		}
		waitFor("the long job is done", func() bool { _, p := job(long); return !p })
	})
}
