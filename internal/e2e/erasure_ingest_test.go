//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// Once an erasure anonymised a user, nothing new is attributed to them:
// a conversation owned by them or with them as a speaker (whose name the
// partner sends too), and a deal they own, are FAILED_PRECONDITION
// USER_ERASED naming the field and store nothing; an admin cannot give
// them a name or an address again. A conversation created before the
// erasure is still answered to its retry.
func TestNothingIsAttributedToAnErasedUser(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	erased, other := f.Reps[1], f.Reps[0]
	begin := time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC)
	before := p.create("before-erasure", erased.ID, begin, 60_000, nil)

	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"email": *erased.Email}).
		want(t, http.StatusAccepted, "").decode(t, &e)
	if !e.InternalUser {
		t.Fatalf("erasure of %s: %+v, want it to anonymise user %d", *erased.Email, e, erased.ID)
	}
	waitErasure(t, s, admin, e.ID, 30*time.Second)

	const secret = "Erased Person Named Again"
	request := func(origin string, owner int64) *openv1.CreateConversationRequest {
		return &openv1.CreateConversationRequest{
			OriginConversationId: origin,
			Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: owner},
			Channel:              openv1.Channel_CHANNEL_CALL,
			BeginTime:            timestamppb.New(begin),
			DurationMs:           60_000,
			Participants: []*openv1.ParticipantInput{
				{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: erased.ID}, Name: secret},
				{SpeakerKey: "cust", Name: "王总", Affiliation: openv1.Affiliation_AFFILIATION_EXTERNAL},
			},
		}
	}
	wantErased := func(what string, err error, field string) {
		t.Helper()
		code, reason, meta := rpcReason(err)
		if code != codes.FailedPrecondition || reason != errs.ReasonUserErased || meta["field"] != field || meta["user_id"] != strconv.FormatInt(erased.ID, 10) {
			t.Fatalf("%s: %v %s %v (%v), want FAILED_PRECONDITION USER_ERASED on %s for user %d", what, code, reason, meta, err, field, erased.ID)
		}
	}
	_, err := p.conv.CreateConversation(p.ctx, request("after-erasure-owner", erased.ID))
	wantErased("a conversation owned by the erased user", err, "owner_user_id")
	_, err = p.conv.CreateConversation(p.ctx, request("after-erasure-speaker", other.ID))
	wantErased("a conversation the erased user speaks in", err, "participants[0].user_id")
	_, err = p.deals.UpsertDeal(p.ctx, &openv1.UpsertDealRequest{OriginDealId: "after-erasure", Name: "deal",
		Owner: &openv1.UpsertDealRequest_OwnerUserId{OwnerUserId: erased.ID}})
	wantErased("a deal owned by the erased user", err, "owner_user_id")

	var n int64
	if err := f.DB.Raw("SELECT COUNT(*) FROM conversations WHERE tenant_id = ? AND origin_conversation_id LIKE 'after-erasure%'", f.Tenant.ID).Scan(&n).Error; err != nil || n != 0 {
		t.Fatalf("%d conversations stored after the refusals (%v)", n, err)
	}
	// The retry of a conversation created before the erasure, where the
	// user spoke, is a conflict naming the conversation: its request's
	// fingerprint went with the user's speaker key (as partners write
	// it, their name or number).
	_, err = p.conv.CreateConversation(p.ctx, &openv1.CreateConversationRequest{
		OriginConversationId: "before-erasure",
		Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: erased.ID},
		Channel:              openv1.Channel_CHANNEL_CALL,
		Direction:            openv1.Direction_DIRECTION_OUTBOUND,
		BeginTime:            timestamppb.New(begin),
		DurationMs:           60_000,
		Participants: []*openv1.ParticipantInput{
			{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: erased.ID}},
			{SpeakerKey: "cust", Name: "王总", Affiliation: openv1.Affiliation_AFFILIATION_EXTERNAL},
		},
	})
	if code, reason, meta := rpcReason(err); code != codes.AlreadyExists || reason != errs.ReasonConversationConflict || meta["conversation_id"] != strconv.FormatInt(before, 10) {
		t.Fatalf("the retry of a conversation created before the erasure: %v %s %v (%v), want CONVERSATION_CONFLICT naming conversation %d", code, reason, meta, err, before)
	}

	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", erased.ID), admin, map[string]any{"name": secret, "email": "back@example.com"}).
		want(t, http.StatusConflict, errs.ReasonUserErased)
	if left := tablesHolding(t, f, secret, "back@example.com"); len(left) > 0 {
		t.Fatalf("the erased user's new identifiers are stored in %v", left)
	}
}
