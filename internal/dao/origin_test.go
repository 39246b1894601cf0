package dao_test

import (
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// originPairs are partner ids that differ only in what MySQL's
// utf8mb4_unicode_ci does not see: case, accents, trailing spaces.
var originPairs = [][2]string{{"U1", "u1"}, {"Ä-2", "a-2"}, {"x3", "x3 "}}

// Partners' ids are opaque: ids that differ in any byte name different
// users, departments, deals and conversations on both engines, and a
// lookup by one never finds the other.
func TestOriginIDsAreComparedByteForByte(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := openOrgStoreOn(t, db)
		tenant, admin := s.tenant(t, "Acme")
		app := model.WithScope(t.Context(), model.Scope{TenantID: tenant, Role: model.RoleApp, AppScopes: []string{"ingest", "read"}})
		ingest := conversation.NewIngest(dao.NewConversations(db), dao.NewDeals(db), dao.NewTransactor(db))
		for i, pair := range originPairs {
			var users, deps, deals, convs [2]int64
			for j, origin := range pair {
				name := fmt.Sprintf("%d-%d", i, j)
				if origin[len(origin)-1] != ' ' { // refused for users and departments
					d, created, err := s.org.UpsertDepartment(admin, identity.UpsertDepartmentRequest{OriginDepartmentID: origin, Name: name})
					if err != nil || !created {
						t.Fatalf("department %q: created %v, %v", origin, created, err)
					}
					deps[j] = d.ID
					u, created, err := s.org.UpsertUser(admin, identity.UpsertUserRequest{OriginUserID: origin, Name: name,
						Email: "user" + name + "@org.test", OriginDepartmentID: origin})
					if err != nil || !created {
						t.Fatalf("user %q: created %v, %v", origin, created, err)
					}
					users[j] = u.ID
				}
				d, created, err := ingest.UpsertDeal(app, conversation.UpsertDealRequest{OriginDealID: origin, Name: name})
				if err != nil || !created {
					t.Fatalf("deal %q: created %v, %v", origin, created, err)
				}
				deals[j] = d.ID
				owner := conversation.Ref{OriginID: "U1"}
				if users[j] != 0 {
					owner = conversation.Ref{OriginID: origin}
				}
				res, err := ingest.CreateConversation(app, conversation.CreateRequest{
					OriginConversationID: origin, Owner: owner, Deal: conversation.Ref{OriginID: origin},
					Channel: model.ChannelCall, BeginTime: time.Now().UTC(), DurationMS: 1000,
				})
				if err != nil || !res.Created {
					t.Fatalf("conversation %q: %+v, %v", origin, res, err)
				}
				convs[j] = res.ConversationID
			}
			for j, origin := range pair {
				if users[j] != 0 {
					if u, err := s.users.ByOrigin(t.Context(), tenant, origin); err != nil || u.ID != users[j] || u.DepartmentID == nil || *u.DepartmentID != deps[j] {
						t.Errorf("user %q: %+v, %v; want user %d in department %d", origin, u, err, users[j], deps[j])
					}
					if d, err := s.deps.ByOrigin(t.Context(), tenant, origin); err != nil || d.ID != deps[j] {
						t.Errorf("department %q: %+v, %v; want %d", origin, d, err, deps[j])
					}
				}
				var c model.Conversation
				if err := db.Take(&c, convs[j]).Error; err != nil {
					t.Fatal(err)
				}
				if c.OriginConversationID != origin || c.DealID == nil || *c.DealID != deals[j] || (users[j] != 0 && c.OwnerUserID != users[j]) {
					t.Errorf("conversation %q: %+v; want deal %d, owner %d", origin, c, deals[j], users[j])
				}
			}
			if users[0] != 0 && users[0] == users[1] || deps[0] != 0 && deps[0] == deps[1] || deals[0] == deals[1] || convs[0] == convs[1] {
				t.Errorf("%q: one row for both ids: users %v, departments %v, deals %v, conversations %v", pair, users, deps, deals, convs)
			}
		}
	})
}
