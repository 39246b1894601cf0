package dao_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// raisedAfter is what RaisedAfter lists; an error fails the test.
func raisedAfter(t *testing.T, v *dao.TokenVersions, revision int64, limit int) []model.TokenVersion {
	t.Helper()
	rows, err := v.RaisedAfter(context.Background(), revision, limit)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// Each raise takes the next revision, whatever the time it is stamped
// with: one stamped a minute behind the raise before it still comes after
// it. A row raised again moves to its new revision.
func TestTokenVersionRaisesTakeTheNextRevision(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		v := dao.NewTokenVersions(db)
		if rev, err := v.Revision(ctx); err != nil || rev != 0 {
			t.Fatalf("revision of an empty store: %d, %v", rev, err)
		}
		at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		user, err := v.Bump(ctx, model.TokenVersionUser, 7, 11, "logout", at)
		if err != nil || user.Revision != 1 || user.Version != 1 {
			t.Fatalf("first raise: %+v, %v", user, err)
		}
		app, err := v.BumpWithGrace(ctx, model.TokenVersionApp, 7, 5, "secret", at.Add(-time.Minute), at.Add(time.Hour))
		if err != nil || app.Revision != 2 || app.Version != 1 {
			t.Fatalf("raise stamped a minute behind: %+v, %v", app, err)
		}
		user, err = v.Bump(ctx, model.TokenVersionUser, 7, 11, "password", at)
		if err != nil || user.Revision != 3 || user.Version != 2 {
			t.Fatalf("second raise of the user: %+v, %v", user, err)
		}
		if rev, err := v.Revision(ctx); err != nil || rev != 3 {
			t.Fatalf("revision: %d, %v", rev, err)
		}
		got := raisedAfter(t, v, 0, 10)
		if len(got) != 2 || got[0].Kind != model.TokenVersionApp || got[0].Revision != 2 ||
			got[1].Kind != model.TokenVersionUser || got[1].Revision != 3 || got[1].Reason != "password" {
			t.Fatalf("raised after 0: %+v", got)
		}
		if got := raisedAfter(t, v, 0, 1); len(got) != 1 || got[0].Revision != 2 {
			t.Fatalf("raised after 0, one row: %+v", got)
		}
		if got := raisedAfter(t, v, 2, 10); len(got) != 1 || got[0].Revision != 3 {
			t.Fatalf("raised after 2: %+v", got)
		}
		if got := raisedAfter(t, v, 3, 10); len(got) != 0 {
			t.Fatalf("raised after 3: %+v", got)
		}
	})
}

// A raise in a transaction holds the revision sequence until it commits:
// a raise made meanwhile (another instance's) waits, and takes the next
// revision once the first has committed. Until then a reader sees neither,
// so a reader never sees a revision while a lower one may still commit.
func TestARaiseHoldsBackTheNextUntilItCommits(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		v := dao.NewTokenVersions(db)
		at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		commit := holdOpen(t, db, func(ctx context.Context) error {
			_, err := v.Bump(ctx, model.TokenVersionUser, 7, 11, "role", at)
			return err
		})
		type result struct {
			v   *model.TokenVersion
			err error
		}
		second := make(chan result, 1)
		go func() {
			row, err := v.Bump(context.Background(), model.TokenVersionUser, 7, 12, "logout", at.Add(-time.Minute))
			second <- result{row, err}
		}()
		// Given time to run ahead, the second raise must still be waiting:
		// a slow machine can only hide a failure here, not make one.
		select {
		case r := <-second:
			t.Fatalf("a raise went ahead of one not committed: %+v, %v", r.v, r.err)
		case <-time.After(300 * time.Millisecond):
		}
		if got := raisedAfter(t, v, 0, 10); len(got) != 0 {
			t.Fatalf("raised after 0 before the commit: %+v", got)
		}
		if rev, err := v.Revision(context.Background()); err != nil || rev != 0 {
			t.Fatalf("revision before the commit: %d, %v", rev, err)
		}
		if err := commit(); err != nil {
			t.Fatal(err)
		}
		r := <-second
		if r.err != nil || r.v.Revision != 2 {
			t.Fatalf("second raise: %+v, %v", r.v, r.err)
		}
		got := raisedAfter(t, v, 0, 10)
		if len(got) != 2 || got[0].SubjectID != 11 || got[0].Revision != 1 || got[1].SubjectID != 12 || got[1].Revision != 2 {
			t.Fatalf("raised after 0: %+v", got)
		}
	})
}

// Writers in two connection pools (two instances, one at the service's
// REPEATABLE READ and one at READ COMMITTED) raise token versions
// concurrently, each holding its transaction open a while after the raise
// and rolling some back, while two readers, one per pool, read the raises
// after the last revision they read as fast as they can: each reader sees
// every revision committed exactly once, each one more than the last, so
// no raise that commits late with a lower revision is ever skipped.
func TestTokenRevisionsFollowCommitOrderOnMariaDB(t *testing.T) {
	admin := os.Getenv("MGV_TEST_MYSQL_ADMIN_DSN")
	if admin == "" {
		t.Skip("MGV_TEST_MYSQL_ADMIN_DSN not set")
	}
	dsn := daotest.ScratchMariaDB(t, admin)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["tx_isolation"] = "'READ-COMMITTED'"
	dbs := []*gorm.DB{daotest.Connect(t, "mysql", dsn), daotest.Connect(t, "mysql", cfg.FormatDSN())}
	for i, want := range []string{"REPEATABLE-READ", "READ-COMMITTED"} {
		var level string
		if err := dbs[i].Raw("SELECT @@tx_isolation").Scan(&level).Error; err != nil || level != want {
			t.Fatalf("pool %d: isolation %q, %v; want %s", i, level, err, want)
		}
	}

	const writers, perWriter = 8, 25
	versions := make([]*dao.TokenVersions, writers)
	for w := range writers {
		versions[w] = dao.NewTokenVersions(dbs[w%2])
	}
	start := time.Now()
	done, committed, _ := writeConcurrently(t, dbs, writers, perWriter, func(ctx context.Context, w, i int) error {
		_, err := versions[w].Bump(ctx, model.TokenVersionUser, 7, int64(w*1000+i), "logout", time.Now())
		return err
	})
	seen := make([]int, len(dbs))
	var readers sync.WaitGroup
	for r, db := range dbs {
		v := dao.NewTokenVersions(db)
		readers.Go(func() {
			var revision int64
			for finished := false; ; {
				select {
				case <-done:
					finished = true
				default:
				}
				rows, err := v.RaisedAfter(context.Background(), revision, 100)
				if err != nil {
					t.Error(err)
					return
				}
				for _, row := range rows {
					if row.Revision != revision+1 {
						t.Errorf("reader %d: after %d it read %d: a revision was skipped or repeated", r, revision, row.Revision)
						return
					}
					revision = row.Revision
					seen[r]++
				}
				if finished && len(rows) == 0 {
					return
				}
			}
		})
	}
	readers.Wait()
	want := int(committed.Load())
	t.Logf("%d writers on 2 pools: %d raises committed in %s", writers, want, time.Since(start).Round(time.Millisecond))
	for r, n := range seen {
		if n != want || want != writers*perWriter*4/5 {
			t.Errorf("reader %d saw %d raises, %d committed (want %d)", r, n, want, writers*perWriter*4/5)
		}
	}
}
