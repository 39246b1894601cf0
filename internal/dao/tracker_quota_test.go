package dao_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// twoInstances opens one fresh database twice, as two instances of the
// service would (separate connection pools), on each dialect.
func twoInstances(t *testing.T, test func(t *testing.T, a, b *gorm.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mgv.db")
		test(t, daotest.Connect(t, "sqlite", path), daotest.Connect(t, "sqlite", path))
	})
	t.Run("mariadb", func(t *testing.T) {
		admin := os.Getenv("MGV_TEST_MYSQL_ADMIN_DSN")
		if admin == "" {
			t.Skip("MGV_TEST_MYSQL_ADMIN_DSN not set")
		}
		dsn := daotest.ScratchMariaDB(t, admin)
		test(t, daotest.Connect(t, "mysql", dsn), daotest.Connect(t, "mysql", dsn))
	})
}

// A tenant's live trackers stop at the cap even when creates race for the
// last places from two instances; deleted trackers do not count, and one
// tenant's cap leaves another's alone.
func TestTrackerQuotaHoldsUnderConcurrentCreates(t *testing.T) {
	twoInstances(t, func(t *testing.T, one, two *gorm.DB) {
		ctx := context.Background()
		tenants := []model.Tenant{{Name: "A", Timezone: "UTC", RateTier: "standard"}, {Name: "B", Timezone: "UTC", RateTier: "standard"}}
		if err := one.Create(&tenants).Error; err != nil {
			t.Fatal(err)
		}
		a, b := tenants[0].ID, tenants[1].ID
		repos := []*dao.Trackers{dao.NewTrackers(one), dao.NewTrackers(two)}
		const limit = 5
		create := func(repo *dao.Trackers, tenant int64, name string) (*model.Tracker, error) {
			tr := &model.Tracker{TenantID: tenant, Name: name, Keywords: `["price"]`, Affiliation: model.AffiliationAnyone}
			return tr, repo.CreateTracker(ctx, tr, limit)
		}
		var first *model.Tracker
		for i := range limit - 2 {
			tr, err := create(repos[i%2], a, fmt.Sprint("a", i))
			if err != nil {
				t.Fatal(err)
			}
			first = tr
		}

		// Eight creates race for the last two places.
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			created  int
			refusals []error
		)
		for i := range 8 {
			wg.Go(func() {
				_, err := create(repos[i%2], a, fmt.Sprint("race", i))
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					created++
				} else {
					refusals = append(refusals, err)
				}
			})
		}
		wg.Wait()
		if created != 2 || len(refusals) != 6 {
			t.Fatalf("%d created, refused: %v; want 2 created of 8", created, refusals)
		}
		for _, err := range refusals {
			e := errs.From(err)
			if e.Reason != errs.ReasonTrackerQuotaExceeded || e.Code() != 40943 || e.Metadata["max_trackers"] != "5" ||
				!strings.Contains(e.Message, "trackers.max_per_tenant = 5") {
				t.Fatalf("refusal %+v", e)
			}
		}
		live, err := repos[0].ListTrackers(ctx, a)
		if err != nil || len(live) != limit {
			t.Fatalf("%d live trackers, %v; want %d", len(live), err, limit)
		}

		// The other tenant has its own places; a delete frees one.
		if _, err := create(repos[1], b, "b0"); err != nil {
			t.Fatalf("another tenant: %v", err)
		}
		if err := repos[1].DeleteTracker(ctx, a, first.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := create(repos[0], a, "after delete"); err != nil {
			t.Fatalf("after a delete: %v", err)
		}
		if _, err := create(repos[0], a, "one more"); !errs.Is(err, errs.ReasonTrackerQuotaExceeded) {
			t.Fatalf("past the cap again: %v", err)
		}
		// A tenant with no row is not found.
		if _, err := create(repos[0], 999999, "nowhere"); !errs.Is(err, errs.ReasonTenantNotFound) {
			t.Fatalf("an unknown tenant: %v", err)
		}
	})
}
