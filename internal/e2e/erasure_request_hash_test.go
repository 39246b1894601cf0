//go:build e2e

package e2e

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// A number written in a kept conversation's title is redacted by an
// erasure, and CreateConversation with its origin id is then a conflict
// whatever the title says: before, the request hash still fingerprinted
// the original title, so a guess at the erased number was answered OK when
// right and CONFLICT when wrong.
func TestAnErasedNumberCannotBeConfirmedByACreateRequestOnMariaDB(t *testing.T) {
	s, f, admin, p, tag := startErasing(t, mysqlEnv(t))
	national := "139" + tag + "77"
	create := func(title string) (*openv1.CreateConversationResponse, error) {
		return p.conv.CreateConversation(p.ctx, &openv1.CreateConversationRequest{
			OriginConversationId: "oracle-" + tag,
			Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: f.Reps[0].ID},
			Channel:              openv1.Channel_CHANNEL_CALL,
			Direction:            openv1.Direction_DIRECTION_OUTBOUND,
			BeginTime:            timestamppb.New(time.Date(2025, 5, 1, 2, 0, 0, 0, time.UTC)),
			DurationMs:           60_000,
			Title:                title,
		})
	}
	first, err := create("回访客户 " + national)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := create("回访客户 " + national); err != nil || again.ConversationId != first.ConversationId {
		t.Fatalf("a retry before the erasure: %v %v; want the same conversation", again, err)
	}
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"phone": national}).want(t, http.StatusAccepted, "").decode(t, &e)
	if done := waitErasure(t, s, admin, e.ID, 60*time.Second); done.ConversationsRedacted != 1 {
		t.Fatalf("the erasure: %+v; want the title redacted", done)
	}
	for _, guess := range []string{national, "13900000000"} {
		_, err := create("回访客户 " + guess)
		if _, reason := authGRPCReason(err); reason != errs.ReasonConversationConflict {
			t.Errorf("a create request guessing %s after the erasure: %v; want CONVERSATION_CONFLICT whatever the guess", guess, err)
		}
	}
}
