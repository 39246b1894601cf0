//go:build e2e

package e2e

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// TestCustomDataRefusesNumbersJSONCannotHold: a NaN or an infinity in
// custom_data was stored as the string "NaN" or "Infinity", not as given.
// It is refused INVALID_ARGUMENT naming the key path, and nothing is
// created; finite numbers come back as sent.
func TestCustomDataRefusesNumbersJSONCannotHold(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for field, v := range map[string]*structpb.Value{
		"custom_data.nan":           structpb.NewNumberValue(math.NaN()),
		"custom_data.deal.score[1]": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"score": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(1), structpb.NewNumberValue(math.Inf(1))}})}}),
	} {
		key, _, _ := strings.Cut(strings.TrimPrefix(field, "custom_data."), ".")
		key, _, _ = strings.Cut(key, "[")
		_, err := p.conv.CreateConversation(p.ctx, &openv1.CreateConversationRequest{
			OriginConversationId: "cd-" + key, Owner: &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: f.Reps[0].ID},
			Channel: openv1.Channel_CHANNEL_CALL, BeginTime: timestamppb.New(begin), DurationMs: 1000,
			CustomData: &structpb.Struct{Fields: map[string]*structpb.Value{"ok": structpb.NewNumberValue(2), key: v}},
		})
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), field+": must be a finite number") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT on it", field, err)
		}
	}
	id := p.create("cd-finite", f.Reps[0].ID, begin, 60_000, func(r *openv1.CreateConversationRequest) {
		r.CustomData = &structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(1e308), "s": structpb.NewStringValue("NaN")}}
	})
	got, err := p.conv.GetConversation(p.ctx, &openv1.GetConversationRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.GetConversation().GetCustomData().AsMap(); m["n"] != 1e308 || m["s"] != "NaN" {
		t.Fatalf("custom_data came back as %v", m)
	}
}
