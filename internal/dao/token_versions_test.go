package dao_test

import (
	"context"
	"math"
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

// raisedAfter is what RaisedAfter lists after every row of revision; an
// error fails the test.
func raisedAfter(t *testing.T, v *dao.TokenVersions, revision int64, limit int) []model.TokenVersion {
	t.Helper()
	rows, err := v.RaisedAfter(context.Background(), revision, math.MaxInt64, limit)
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

// Now is the database's clock, in UTC and in changed_at's millisecond
// (here the database runs beside the test, so it agrees with the test's
// clock within a few seconds), whatever the session's time zone; a raise
// stamped with it is read by time from it.
func TestTokenVersionsNowIsTheDatabasesClock(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		v := dao.NewTokenVersions(db)
		err := dao.NewTransactor(db).InTx(ctx, func(ctx context.Context) error {
			if db.Name() == "mysql" {
				if err := dao.Conn(ctx, db).Exec("SET time_zone = '+05:00'").Error; err != nil {
					return err
				}
				var zone string
				if err := dao.Conn(ctx, db).Raw("SELECT @@session.time_zone").Row().Scan(&zone); err != nil || zone != "+05:00" {
					t.Fatalf("the session's time zone: %q, %v", zone, err)
				}
			}
			before := time.Now()
			now, err := v.Now(ctx)
			if err != nil {
				return err
			}
			if now.Location() != time.UTC || !now.Equal(now.Truncate(time.Millisecond)) {
				t.Errorf("Now %v: want UTC, in milliseconds", now)
			}
			if d := now.Sub(before); d < -5*time.Second || d > 5*time.Second {
				t.Errorf("Now %v is %v off this machine's clock", now, d)
			}
			if _, err := v.Bump(ctx, model.TokenVersionUser, 7, 11, "logout", now); err != nil {
				return err
			}
			for _, c := range []struct {
				since time.Time
				rows  int
			}{{now, 1}, {now.Add(time.Millisecond), 0}} {
				if got, err := v.ChangedSince(ctx, c.since); err != nil || len(got) != c.rows {
					t.Errorf("changed since %v (raised %v): %d rows (%v), want %d", c.since, now, len(got), err, c.rows)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
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
				rows, err := v.RaisedAfter(context.Background(), revision, math.MaxInt64, 100)
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

// A bulk raise takes one revision for all its subjects and raises each
// once, as Bump raises one: a subject never raised gets version 1, one
// raised before its version + 1 with its grace ended; ids given twice are
// raised once, and a raise of more ids than one statement takes still
// takes one revision. Another tenant's rows, and other kinds, stay as they
// were. A reader paging by revision and row id reads every row of the
// revision once, however its pages cut it.
func TestABulkRaiseRaisesEachSubjectOnceUnderOneRevision(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		v := dao.NewTokenVersions(db)
		at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		mustBump := func(row *model.TokenVersion, err error) *model.TokenVersion {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return row
		}
		raisedBefore := mustBump(v.Bump(ctx, model.TokenVersionUser, 7, 11, "logout", at))
		otherTenant := mustBump(v.Bump(ctx, model.TokenVersionUser, 8, 21, "logout", at))
		app := mustBump(v.BumpWithGrace(ctx, model.TokenVersionApp, 7, 11, "secret", at, at.Add(time.Hour)))
		graced := mustBump(v.BumpWithGrace(ctx, model.TokenVersionApp, 7, 12, "secret", at, at.Add(time.Hour)))

		// More ids than one statement raises, 11 (raised before) among
		// them, some twice.
		ids := []int64{11, 12}
		for id := int64(1000); len(ids) < dao.BumpManyRows+50; id++ {
			ids = append(ids, id)
		}
		ids = append(ids, 12, 11, 1000)
		later := at.Add(time.Minute)
		rows, err := v.BumpMany(ctx, model.TokenVersionUser, 7, ids, "department", later)
		if err != nil {
			t.Fatal(err)
		}
		distinct := len(ids) - 3
		rev := graced.Revision + 1
		if len(rows) != distinct {
			t.Fatalf("%d rows raised for %d distinct ids", len(rows), distinct)
		}
		seen := map[int64]bool{}
		for _, row := range rows {
			want := int64(1)
			if row.SubjectID == 11 {
				want = raisedBefore.Version + 1
			}
			if row.Kind != model.TokenVersionUser || row.TenantID != 7 || row.Version != want || row.Revision != rev ||
				row.Reason != "department" || !row.ChangedAt.Equal(later) || row.GraceUntil != nil || row.GraceVersion != 0 || seen[row.SubjectID] {
				t.Fatalf("raised row %+v; want version %d at revision %d, raised once", row, want, rev)
			}
			seen[row.SubjectID] = true
		}
		if got, err := v.Revision(ctx); err != nil || got != rev {
			t.Fatalf("revision after the bulk raise: %d, %v; want %d (one taken)", got, err, rev)
		}
		for _, same := range []*model.TokenVersion{otherTenant, app} {
			if got := mustBump(v.Current(ctx, same.Kind, same.SubjectID)); got.Version != same.Version || got.Revision != same.Revision || got.Reason != same.Reason {
				t.Fatalf("%s %d after another's bulk raise: %+v; want it as it was, %+v", same.Kind, same.SubjectID, got, same)
			}
		}

		// A bulk raise of apps ends their grace, as Bump does.
		apps, err := v.BumpMany(ctx, model.TokenVersionApp, 7, []int64{12}, "app_disabled", later)
		if err != nil || len(apps) != 1 || apps[0].Version != graced.Version+1 || apps[0].GraceUntil != nil || apps[0].GraceVersion != 0 || apps[0].Revision != rev+1 {
			t.Fatalf("bulk raise of a graced app: %+v, %v", apps, err)
		}
		if rows, err := v.BumpMany(ctx, model.TokenVersionUser, 7, nil, "department", later); err != nil || len(rows) != 0 {
			t.Fatalf("bulk raise of nobody: %+v, %v", rows, err)
		}
		if got, err := v.Revision(ctx); err != nil || got != rev+1 {
			t.Fatalf("revision after raising nobody: %d, %v; want %d", got, err, rev+1)
		}

		// Read in pages of 1000 from before the bulk raise: every row of
		// it once, then the app's.
		read := map[int64]int{}
		revision, afterID := graced.Revision, int64(math.MaxInt64)
		for pages := 0; ; pages++ {
			page, err := v.RaisedAfter(ctx, revision, afterID, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range page {
				if row.Revision < revision || row.Revision == revision && row.ID <= afterID {
					t.Fatalf("page %d went back: %+v after revision %d row %d", pages, row, revision, afterID)
				}
				revision, afterID = row.Revision, row.ID
				if row.Kind == model.TokenVersionUser {
					read[row.SubjectID]++
					if row.TenantID != 7 || row.Reason != "department" || !row.ChangedAt.Equal(later) || row.GraceUntil != nil {
						t.Fatalf("stored row %+v; want tenant 7's, raised for a department change at %v", row, later)
					}
				}
			}
			if len(page) < 1000 {
				break
			}
		}
		if len(read) != distinct || revision != rev+1 {
			t.Fatalf("paged read: %d users, up to revision %d; want %d users, up to %d", len(read), revision, distinct, rev+1)
		}
		for id, n := range read {
			if n != 1 {
				t.Fatalf("user %d read %d times", id, n)
			}
		}
	})
}

// A bulk raise holds the revision sequence until it commits, as one raise
// does: another tenant's raise made meanwhile waits and takes the next
// revision once the bulk raise has committed, and a reader sees neither
// until then.
func TestABulkRaiseHoldsBackTheNextUntilItCommits(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		v := dao.NewTokenVersions(db)
		at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		commit := holdOpen(t, db, func(ctx context.Context) error {
			_, err := v.BumpMany(ctx, model.TokenVersionUser, 7, []int64{11, 12, 13}, "department", at)
			return err
		})
		second := make(chan error, 1)
		go func() {
			_, err := v.Bump(context.Background(), model.TokenVersionUser, 8, 21, "logout", at)
			second <- err
		}()
		select {
		case err := <-second:
			t.Fatalf("a raise went ahead of a bulk raise not committed: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if got := raisedAfter(t, v, 0, 10); len(got) != 0 {
			t.Fatalf("raised after 0 before the commit: %+v", got)
		}
		if err := commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		got := raisedAfter(t, v, 0, 10)
		if len(got) != 4 || got[0].Revision != 1 || got[2].Revision != 1 || got[3].SubjectID != 21 || got[3].Revision != 2 {
			t.Fatalf("raised after 0: %+v", got)
		}
	})
}
