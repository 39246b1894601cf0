//go:build e2e

package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// TestYearOneIsNotATimeLeftOut: year 1 (0001-01-01T00:00:00Z, Go's zero
// time) sent as a time is refused naming its field, on both transports, as
// year 2 is; it used to be taken for a time left out, so a filter of it
// answered everything and a begin_time of it was said to be missing.
func TestYearOneIsNotATimeLeftOut(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	for _, q := range []string{
		"to=0001-01-01T00:00:00Z", "to=-62135596800000", "from=" + url.QueryEscape("0001-01-01T08:00:00+08:00"), "to=0002-01-01T00:00:00Z",
	} {
		r := authCall(t, s, http.MethodGet, "/api/v1/conversations?"+q, admin, nil)
		field, _, _ := strings.Cut(q, "=")
		if r.Status != http.StatusBadRequest || r.Metadata["field"] != field || !strings.Contains(r.Msg, "between the years 1000 and 9999") {
			t.Errorf("GET /conversations?%s: %d %s (field %q)", q, r.Status, r.Msg, r.Metadata["field"])
		}
	}

	p := newPartner(t, s.GRPC(), f.AppToken(t))
	yearOne := timestamppb.New(time.Time{})
	_, err := p.conv.ListConversations(p.ctx, &openv1.ListConversationsRequest{PageSize: 10, Filter: &openv1.ConversationFilter{EndTime: yearOne}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "filter.end_time") {
		t.Errorf("ListConversations with filter.end_time in year 1: %v", err)
	}
	_, err = p.conv.CreateConversation(p.ctx, &openv1.CreateConversationRequest{
		OriginConversationId: "year-one", Owner: &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: f.Reps[0].ID},
		Channel: openv1.Channel_CHANNEL_CALL, Direction: openv1.Direction_DIRECTION_OUTBOUND, BeginTime: yearOne, DurationMs: 1000,
	})
	if msg := status.Convert(err).Message(); status.Code(err) != codes.InvalidArgument || !strings.Contains(msg, "begin_time") || strings.Contains(msg, "required") {
		t.Errorf("CreateConversation with begin_time in year 1: %v", err)
	}
}
