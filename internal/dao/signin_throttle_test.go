package dao_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
)

func TestSigninThrottle(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		r := dao.NewSigninThrottle(db)
		t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		window := 15 * time.Minute
		hit := func(bucket string, now time.Time) (int, time.Time) {
			t.Helper()
			n, since, err := r.Hit(ctx, bucket, "account", now, now.Add(-window))
			if err != nil {
				t.Fatal(err)
			}
			return n, since
		}
		for i := 1; i <= 3; i++ {
			if n, since := hit("a", t0.Add(time.Duration(i)*time.Minute)); n != i || !since.Equal(t0.Add(time.Minute)) {
				t.Fatalf("hit %d: %d since %v", i, n, since)
			}
		}
		if err := r.Refund(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if n, _ := hit("a", t0.Add(5*time.Minute)); n != 3 {
			t.Fatalf("after a refund: %d, want 3", n)
		}
		// The window ends 15 minutes after it began: a new one starts.
		if n, since := hit("a", t0.Add(16*time.Minute)); n != 1 || !since.Equal(t0.Add(16*time.Minute)) {
			t.Fatalf("after the window: %d since %v", n, since)
		}
		if err := r.Reset(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if n, _ := hit("a", t0.Add(17*time.Minute)); n != 1 {
			t.Fatalf("after a reset: %d", n)
		}
		// A refund never goes below zero.
		for range 3 {
			if err := r.Refund(ctx, "a"); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := hit("a", t0.Add(17*time.Minute)); n != 1 {
			t.Fatalf("after refunds past zero: %d", n)
		}

		// Concurrent hits, as from several instances, are each counted.
		var wg sync.WaitGroup
		seen := make(chan int, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, _, err := r.Hit(ctx, "b", "address", t0, t0.Add(-window))
				if err != nil {
					t.Error(err)
				}
				seen <- n
			}()
		}
		wg.Wait()
		close(seen)
		top := 0
		for n := range seen {
			top = max(top, n)
		}
		if n, _ := hit("b", t0); n != 21 || top != 20 {
			t.Fatalf("after 20 concurrent hits: %d (highest seen %d)", n, top)
		}

		// Trim deletes the buckets of past windows, in batches.
		for i := range 5 {
			hit(fmt.Sprintf("old%d", i), t0.Add(-time.Hour))
		}
		deleted, err := r.Trim(ctx, t0.Add(-window), 3)
		if err != nil || deleted != 3 {
			t.Fatalf("trim: %d, %v", deleted, err)
		}
		if deleted, err = r.Trim(ctx, t0.Add(-window), 3); err != nil || deleted != 2 {
			t.Fatalf("second trim: %d, %v", deleted, err)
		}
		var left int64
		if err := db.Raw("SELECT COUNT(*) FROM signin_throttle").Scan(&left).Error; err != nil || left != 2 {
			t.Fatalf("rows left %d, %v", left, err)
		}
	})
}

func TestUsersByPhones(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		users := dao.NewUsers(db)
		now := time.Now().UTC()
		for i, phone := range []string{"+8613800000001", "13800000002"} {
			p := phone
			email := fmt.Sprintf("u%d@acme.test", i)
			if err := db.Exec("INSERT INTO users (tenant_id, name, email, phone, role, status, password_hash, created_at, updated_at) VALUES (1, 'u', ?, ?, 'rep', 'active', '', ?, ?)", email, p, now, now).Error; err != nil {
				t.Fatal(err)
			}
		}
		got, err := users.ByPhones(ctx, []string{"+8613800000002", "13800000002", "+8613800000001"})
		if err != nil || len(got) != 2 {
			t.Fatalf("%v %v", got, err)
		}
		if got, err := users.ByPhones(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("no phones: %v %v", got, err)
		}
	})
}
