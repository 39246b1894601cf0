//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// A partner's ids are opaque on MySQL too: ids that differ only in case,
// accents or trailing spaces, one key to the utf8mb4_unicode_ci collation,
// are different departments, users, deals and conversations, and a
// reference by one finds the row of that id.
func TestOriginIDsAreComparedByteForByteOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	res, err := openv1.NewAuthServiceClient(conn).CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: f.App.AppKey, AppSecret: f.AppSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := authBearer(t.Context(), res.AccessToken)
	org, deals, convs := openv1.NewOrgServiceClient(conn), openv1.NewDealServiceClient(conn), openv1.NewConversationServiceClient(conn)

	for i, pair := range [][2]string{{"crm-U1", "crm-u1"}, {"crm-Ä-2", "crm-a-2"}, {"crm-x3", "crm-x3 "}} {
		var users, deps, dealIDs, convIDs [2]int64
		for j, origin := range pair {
			name := fmt.Sprintf("origin %d-%d", i, j)
			owner := &openv1.CreateConversationRequest_OriginOwnerUserId{OriginOwnerUserId: "crm-U1"}
			if origin[len(origin)-1] != ' ' { // users and departments refuse spaces around their ids
				d, err := org.UpsertDepartment(ctx, &openv1.UpsertDepartmentRequest{OriginDepartmentId: origin, Name: name})
				if err != nil || !d.Created || d.Department.OriginDepartmentId != origin {
					t.Fatalf("department %q: %v, %v", origin, d, err)
				}
				deps[j] = d.Department.Id
				u, err := org.UpsertUser(ctx, &openv1.UpsertUserRequest{OriginUserId: origin, Name: name,
					Email: fmt.Sprintf("origin%d-%d.%s@test.mgv", i, j, f.App.AppKey), OriginDepartmentId: origin})
				if err != nil || !u.Created || u.User.OriginUserId != origin || u.User.DepartmentId != deps[j] {
					t.Fatalf("user %q: %v, %v; want department %d", origin, u, err, deps[j])
				}
				users[j] = u.User.Id
				owner = &openv1.CreateConversationRequest_OriginOwnerUserId{OriginOwnerUserId: origin}
			}
			d, err := deals.UpsertDeal(ctx, &openv1.UpsertDealRequest{OriginDealId: origin, Name: name})
			if err != nil || !d.Created || d.Deal.OriginDealId != origin {
				t.Fatalf("deal %q: %v, %v", origin, d, err)
			}
			dealIDs[j] = d.Deal.Id
			c, err := convs.CreateConversation(ctx, &openv1.CreateConversationRequest{
				OriginConversationId: origin, Owner: owner, Deal: &openv1.CreateConversationRequest_OriginDealId{OriginDealId: origin},
				Channel: openv1.Channel_CHANNEL_CALL, BeginTime: timestamppb.New(time.Now().Add(-time.Hour)), DurationMs: 60_000,
			})
			if err != nil || !c.Created {
				t.Fatalf("conversation %q: %v, %v", origin, c, err)
			}
			convIDs[j] = c.ConversationId
		}
		if users[0] != 0 && users[0] == users[1] || deps[0] != 0 && deps[0] == deps[1] || dealIDs[0] == dealIDs[1] || convIDs[0] == convIDs[1] {
			t.Fatalf("%q: one row for both ids: users %v, departments %v, deals %v, conversations %v", pair, users, deps, dealIDs, convIDs)
		}
		for j, origin := range pair {
			got, err := convs.GetConversation(ctx, &openv1.GetConversationRequest{ConversationId: convIDs[j]})
			if err != nil {
				t.Fatal(err)
			}
			c := got.Conversation
			if c.OriginConversationId != origin || c.DealId != dealIDs[j] || users[j] != 0 && c.OwnerUserId != users[j] {
				t.Errorf("conversation %q: %v; want deal %d, owner %d", origin, c, dealIDs[j], users[j])
			}
		}
		// The same upserts again find their own rows.
		for j, origin := range pair {
			d, err := deals.UpsertDeal(ctx, &openv1.UpsertDealRequest{OriginDealId: origin, Name: "renamed"})
			if err != nil || d.Created || d.Deal.Id != dealIDs[j] {
				t.Errorf("deal %q again: %v, %v; want %d", origin, d, err, dealIDs[j])
			}
		}
	}
}
