package dao_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// A transaction that found its users not erased holds them: an erasure's
// anonymisation waits for it to commit, then clears what it attributed to
// them; a transaction after the anonymisation finds them erased.
func TestErasedUsersHoldsTheUsersAgainstAnErasure(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		users, p, convs, tx := dao.NewUsers(db), dao.NewPrivacy(db), dao.NewConversations(db), dao.NewTransactor(db)
		rep := model.User{TenantID: 3, Name: "Rep Named", Role: model.RoleRep, Status: model.UserActive}
		other := model.User{TenantID: 3, Name: "Other Rep", Role: model.RoleRep, Status: model.UserActive}
		for _, u := range []*model.User{&rep, &other} {
			if err := users.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		held, release, txDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			txDone <- tx.InTx(ctx, func(ctx context.Context) error {
				erased, err := convs.ErasedUsers(ctx, 3, []int64{rep.ID, other.ID})
				if err != nil {
					return err
				}
				if len(erased) != 0 {
					return fmt.Errorf("erased before the erasure: %v", erased)
				}
				close(held)
				<-release
				now := time.Now().UTC().Truncate(time.Millisecond)
				c := model.Conversation{TenantID: 3, OriginConversationID: "c1", OwnerUserID: rep.ID, Channel: "call",
					Direction: "unknown", Status: "pending", BeginTime: now}
				return convs.Create(ctx, &c, []model.Participant{{SpeakerKey: "0", UserID: &rep.ID, Name: "Rep Named", Affiliation: "internal"}})
			})
		}()
		select {
		case <-held:
		case err := <-txDone:
			t.Fatalf("the transaction ended first: %v", err)
		}
		anonymised := make(chan error, 1)
		go func() { anonymised <- p.AnonymiseUser(ctx, 3, rep.ID) }()
		var refused error // SQLite's answer to a second writer that read first
		select {
		case refused = <-anonymised:
			if refused == nil || db.Name() == "mysql" {
				close(release)
				t.Fatalf("the anonymisation did not wait for the transaction holding the user (%v; the transaction: %v)", refused, <-txDone)
			}
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-txDone; err != nil {
			t.Fatalf("the transaction holding the user: %v", err)
		}
		if refused != nil {
			// SQLite refuses the anonymisation rather than queue it, as
			// a temporary error: the erasure runs it again later.
			if !errs.From(refused).Temporary() {
				t.Fatalf("the anonymisation refused for good: %v", refused)
			}
			anonymised <- p.AnonymiseUser(ctx, 3, rep.ID)
		}
		if err := <-anonymised; err != nil {
			t.Fatalf("the anonymisation after it: %v", err)
		}
		var names []string
		if err := db.Raw("SELECT name FROM participants WHERE tenant_id = 3 AND user_id = ?", rep.ID).Scan(&names).Error; err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{""}) {
			t.Fatalf("participant names of the erased user: %q, want the one written, cleared", names)
		}

		err := tx.InTx(ctx, func(ctx context.Context) error {
			erased, err := convs.ErasedUsers(ctx, 3, []int64{other.ID, rep.ID})
			if err != nil {
				return err
			}
			if !slices.Equal(erased, []int64{rep.ID}) {
				return fmt.Errorf("erased %v, want [%d]", erased, rep.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// An update read before an erasure anonymised the user writes nothing
// onto the anonymised row, whatever it changes, and says USER_ERASED.
func TestUpdateWritesNothingOntoAnErasedUser(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		users, p := dao.NewUsers(db), dao.NewPrivacy(db)
		email := "rep@example.com"
		rep := model.User{TenantID: 3, Name: "Rep Named", Email: &email, Role: model.RoleRep, Status: model.UserActive}
		if err := users.Create(ctx, &rep); err != nil {
			t.Fatal(err)
		}
		before := rep
		if err := p.AnonymiseUser(ctx, 3, rep.ID); err != nil {
			t.Fatal(err)
		}
		for name, change := range map[string]func(u *model.User){
			"role":  func(u *model.User) { u.Role = model.RoleManager },
			"phone": func(u *model.User) { phone := "+8613912345678"; u.Phone = &phone },
		} {
			u := before
			change(&u)
			u.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
			if err := users.Update(ctx, &before, &u); !errs.Is(err, errs.ReasonUserErased) {
				t.Errorf("%s written onto an erased user: %v, want USER_ERASED", name, err)
			}
		}
		now, err := users.ByID(ctx, 3, rep.ID)
		if err != nil || !now.Erased() || now.Role != model.RoleRep {
			t.Fatalf("the erased user after the updates: %+v %v", now, err)
		}
	})
}
