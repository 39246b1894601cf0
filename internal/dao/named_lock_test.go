package dao_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
)

// A named lock held longer than the server's wait_timeout is still held
// (its idle session would otherwise be ended, and the lock with it, under
// a long rebuild); a session ended anyway is reported as lost, and the
// lock can be taken again.
func TestANamedLockOutlivesTheIdleTimeoutOnMariaDB(t *testing.T) {
	admin := os.Getenv("MGV_TEST_MYSQL_ADMIN_DSN")
	if admin == "" {
		t.Skip(`MGV_TEST_MYSQL_ADMIN_DSN not set: eval "$(scripts/testenv.sh env)"`)
	}
	ctx := t.Context()
	dsn := daotest.ScratchMariaDB(t, admin)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"wait_timeout": "2"} // a session variable of every connection
	db := daotest.Connect(t, "mysql", cfg.FormatDSN(), daotest.Unmigrated)
	other := daotest.Connect(t, "mysql", dsn, daotest.Unmigrated)
	name := fmt.Sprintf("mgvcore_test_lock %08x", rand.Uint32())

	lock, held, err := dao.TakeNamedLock(ctx, db, name, 0)
	if err != nil || !held {
		t.Fatalf("take: %v %v", held, err)
	}
	defer lock.Release()
	time.Sleep(5 * time.Second) // over twice the wait_timeout
	select {
	case <-lock.Lost():
		t.Fatal("the lock was lost while its holder waited")
	default:
	}
	if _, held, err := dao.TakeNamedLock(ctx, other, name, 0); err != nil || held {
		t.Fatalf("another session took the lock held (%v %v): the holder's idle session was ended", held, err)
	}

	var holder int64
	if err := other.Raw("SELECT IS_USED_LOCK(?)", name).Scan(&holder).Error; err != nil || holder == 0 {
		t.Fatalf("holder %d: %v", holder, err)
	}
	if err := other.Exec(fmt.Sprintf("KILL %d", holder)).Error; err != nil {
		t.Fatal(err)
	}
	wctx, stop := lock.WhileHeld(ctx)
	defer stop()
	select {
	case <-lock.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("a lock whose session was killed is not reported lost")
	}
	<-wctx.Done()
	if cause := context.Cause(wctx); cause != dao.ErrLockLost {
		t.Errorf("the context of the lost lock ended with %v, want ErrLockLost", cause)
	}
	lock.Release()
	again, held, err := dao.TakeNamedLock(ctx, other, name, 0)
	if err != nil || !held {
		t.Fatalf("take again: %v %v", held, err)
	}
	again.Release()
}

// SQLite has no named locks: taking one always succeeds and holds nothing.
func TestANamedLockOnSQLite(t *testing.T) {
	db := daotest.Open(t, daotest.Unmigrated)
	for range 2 {
		lock, held, err := dao.TakeNamedLock(t.Context(), db, "x", 0)
		if err != nil || !held {
			t.Fatalf("%v %v", held, err)
		}
		lock.Release()
		lock.Release()
	}
}
