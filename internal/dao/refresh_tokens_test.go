package dao_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

func TestRefreshTokenRotationHasOneWinnerOnSQLite(t *testing.T) {
	s := openOrgStore(t)
	tenant, admin := s.tenant(t, "Acme")
	rep := s.user(t, admin, "rep", model.RoleRep, "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	token := func(hash string) *model.RefreshToken {
		return &model.RefreshToken{TenantID: tenant, UserID: rep.ID, FamilyID: "f0000000000000000000000000000001",
			TokenHash: hash, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	}
	if err := s.refresh.Create(t.Context(), token("h-0")); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	won := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			next := token("h-next-" + string(rune('a'+i)))
			ok, err := s.refresh.Rotate(t.Context(), "h-0", now, next)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won <- next.TokenHash
			}
		})
	}
	wg.Wait()
	close(won)
	var winners []string
	for h := range won {
		winners = append(winners, h)
	}
	if len(winners) != 1 {
		t.Fatalf("%d rotations won, want 1", len(winners))
	}
	old, err := s.refresh.ByHash(t.Context(), "h-0")
	if err != nil || old.UsedAt == nil {
		t.Fatalf("spent token: %+v, %v", old, err)
	}
	var stored int64
	s.db.Model(&model.RefreshToken{}).Where("family_id = ?", old.FamilyID).Count(&stored)
	if stored != 2 {
		t.Fatalf("%d tokens in the family, want the first and the winner's", stored)
	}

	// Revoking the family stops the winner's token from rotating.
	if err := s.refresh.RevokeFamily(t.Context(), old.FamilyID, now); err != nil {
		t.Fatal(err)
	}
	ok, err := s.refresh.Rotate(t.Context(), winners[0], now, token("h-after"))
	if err != nil || ok {
		t.Fatalf("rotation of a revoked token: %v, %v", ok, err)
	}
	next, _ := s.refresh.ByHash(t.Context(), winners[0])
	if next.RevokedAt == nil {
		t.Fatal("the family revocation missed the newest token")
	}
}

// TestARotationPickedAsADeadlockVictimRunsAgain: MySQL can abort one of two
// concurrent rotations of a token as a deadlock victim. Answered as an
// error, the refresh would pass over the reuse, and whoever won would keep
// the session; run again, it tells the race as lost. Here the first run's
// insert is made to fail so, on SQLite, which has no deadlocks.
func TestARotationPickedAsADeadlockVictimRunsAgain(t *testing.T) {
	s := openOrgStore(t)
	tenant, admin := s.tenant(t, "Acme")
	rep := s.user(t, admin, "rep", model.RoleRep, "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	token := func(hash string) *model.RefreshToken {
		return &model.RefreshToken{TenantID: tenant, UserID: rep.ID, FamilyID: "f0000000000000000000000000000002",
			TokenHash: hash, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	}
	if err := s.refresh.Create(t.Context(), token("h-0")); err != nil {
		t.Fatal(err)
	}
	var victims atomic.Int32
	err := s.db.Callback().Create().After("gorm:create").Register("test:deadlock_once", func(tx *gorm.DB) {
		if tx.Statement.Table == "refresh_tokens" && victims.CompareAndSwap(0, 1) {
			_ = tx.AddError(&mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	next := token("h-1")
	won, err := s.refresh.Rotate(t.Context(), "h-0", now, next)
	if err != nil || !won || victims.Load() != 1 {
		t.Fatalf("rotation after a deadlock: won %v, %v (deadlocks %d)", won, err, victims.Load())
	}
	if _, err := s.refresh.ByHash(t.Context(), "h-1"); err != nil {
		t.Fatalf("the next token, stored by the second run: %v", err)
	}
	// The other rotation, run again, finds the token spent: a reuse.
	if won, err := s.refresh.Rotate(t.Context(), "h-0", now, token("h-2")); err != nil || won {
		t.Fatalf("a second rotation: won %v, %v", won, err)
	}
}

// TestConcurrentRotationsOnMariaDB: two rotations of one token at once, over
// and over: one wins and the other loses, never an error (a deadlock).
func TestConcurrentRotationsOnMariaDB(t *testing.T) {
	db := daotest.OpenMariaDB(t)
	r := dao.NewRefreshTokens(db)
	now := time.Now().UTC().Truncate(time.Millisecond)
	token := func(family, hash string) *model.RefreshToken {
		return &model.RefreshToken{TenantID: 1, UserID: 7, FamilyID: family, TokenHash: hash, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	}
	hash := func() string { return rand.Text() + rand.Text() }
	outcomes := map[string]int{}
	for i := range 300 {
		family := fmt.Sprintf("%032x", i)
		old := hash()
		if err := r.Create(t.Context(), token(family, old)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		res := make([]string, 2)
		for j := range res {
			wg.Go(func() {
				ok, err := r.Rotate(t.Context(), old, now, token(family, hash()))
				res[j] = fmt.Sprint(ok)
				if err != nil {
					res[j] = "error " + err.Error()
				}
			})
		}
		wg.Wait()
		slices.Sort(res)
		outcomes[strings.Join(res, ", ")]++
	}
	if outcomes["false, true"] != 300 {
		t.Fatalf("outcomes of 300 pairs of rotations: %v", outcomes)
	}
}
