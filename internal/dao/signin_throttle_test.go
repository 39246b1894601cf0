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

		// Seen: a window that began at or after since.
		for since, want := range map[time.Time]bool{t0: true, t0.Add(17 * time.Minute): true, t0.Add(18 * time.Minute): false} {
			if seen, err := r.Seen(ctx, "a", since); err != nil || seen != want {
				t.Fatalf("seen since %v: %v %v, want %v", since, seen, err, want)
			}
		}
		if seen, err := r.Seen(ctx, "never", t0.Add(-time.Hour)); err != nil || seen {
			t.Fatalf("a bucket never hit is seen: %v", err)
		}

		// Trim deletes the buckets of past windows, in batches; buckets of
		// the kept kind only once their own horizon is past.
		for i := range 5 {
			hit(fmt.Sprintf("old%d", i), t0.Add(-time.Hour))
		}
		for i, at := range []time.Time{t0.Add(-time.Hour), t0.Add(-40 * 24 * time.Hour)} {
			if _, _, err := r.Hit(ctx, fmt.Sprint("known", i), "known", at, at); err != nil {
				t.Fatal(err)
			}
		}
		keepBefore := t0.Add(-30 * 24 * time.Hour)
		deleted, err := r.Trim(ctx, t0.Add(-window), "known", keepBefore, 3)
		if err != nil || deleted != 3 {
			t.Fatalf("trim: %d, %v", deleted, err)
		}
		if deleted, err = r.Trim(ctx, t0.Add(-window), "known", keepBefore, 3); err != nil || deleted != 3 {
			t.Fatalf("second trim: %d, %v", deleted, err)
		}
		var left []string
		if err := db.Raw("SELECT bucket FROM signin_throttle ORDER BY bucket").Scan(&left).Error; err != nil || fmt.Sprint(left) != "[a b known0]" {
			t.Fatalf("rows left %v, %v; want a, b and the client known an hour ago", left, err)
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
