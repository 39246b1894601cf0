package dao_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
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
