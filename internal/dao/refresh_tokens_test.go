package dao_test

import (
	"sync"
	"testing"
	"time"

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
