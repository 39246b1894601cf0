package server

import (
	"context"
	"math"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

func TestFilterErrorsNameProtoFields(t *testing.T) {
	f, err := ConversationFilterFromProto(&openv1.ConversationFilter{Direction: openv1.Direction(9)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = conversation.NormalizeFilter(f)
	e := errs.From(filterFields.Word(err))
	if e.Metadata["field"] != "filter.direction" || e.Message != "filter.direction: must be inbound, outbound or unknown (got \"9\")" {
		t.Fatalf("got %v %v", e, e.Metadata)
	}
	_, err = conversation.NormalizeFilter(model.ConversationFilter{OwnerIDs: []int64{-1}})
	if e := errs.From(filterFields.Word(err)); e.Metadata["field"] != "filter.owner_ids" || e.Message != "filter.owner_ids: must be a positive id (got -1)" {
		t.Fatalf("owner ids: %v %v", e, e.Metadata)
	}
	if _, err := ConversationFilterFromProto(&openv1.ConversationFilter{StartTime: &timestamppb.Timestamp{Nanos: -1}}); errs.From(err).Metadata["field"] != "filter.start_time" {
		t.Fatalf("bad timestamp: %v", err)
	}
	if f, _ := ConversationFilterFromProto(nil); f.Direction != "" || f.OwnerIDs != nil {
		t.Fatalf("nil filter: %+v", f)
	}
	if f, _ := ConversationFilterFromProto(&openv1.ConversationFilter{}); f.Direction != "" {
		t.Fatalf("unset direction filters on %q", f.Direction)
	}
	// Errors of other fields pass unchanged.
	other := errs.InvalidArgument("page_size", "too big")
	if filterFields.Word(other) != error(other) {
		t.Fatal("renamed page_size")
	}
}

func TestEnumNames(t *testing.T) {
	roundTrip(t, "channel", channels)
	roundTrip(t, "direction", directions)
	roundTrip(t, "affiliation", affiliations)
	roundTrip(t, "status", statuses)
	roundTrip(t, "tracker affiliation", trackerAffiliations)
	roundTrip(t, "role", roles)
	roundTrip(t, "user status", userStatuses)
	if channels.name(openv1.Channel(7)) != "7" || channels.name(openv1.Channel_CHANNEL_UNSPECIFIED) != "" {
		t.Error("channel names")
	}
	if directions.value("sideways") != openv1.Direction_DIRECTION_UNKNOWN || trackerAffiliations.value("") != openv1.TrackerAffiliation_TRACKER_AFFILIATION_ANYONE {
		t.Error("names the proto does not know")
	}
	if _, ok := roles.known(openv1.Role(9)); ok {
		t.Error("role 9 is known")
	}
}

// roundTrip checks that every named value of an enum comes back from its name.
func roundTrip[E ~int32](t *testing.T, what string, m enum[E]) {
	t.Helper()
	for e, n := range m.names {
		if n != "" && m.value(m.name(e)) != e {
			t.Errorf("%s %s does not round-trip", what, n)
		}
	}
}

// TestCustomDataNumbersMustBeFinite: NaN and the infinities have no JSON
// spelling; AsMap kept them and the stored object held the strings "NaN"
// and "Infinity" where numbers were sent. They are refused naming the key
// path below custom_data, before anything is stored.
func TestCustomDataNumbersMustBeFinite(t *testing.T) {
	num := structpb.NewNumberValue
	for _, tc := range []struct {
		data  *structpb.Struct
		field string
		got   string
	}{
		{&structpb.Struct{Fields: map[string]*structpb.Value{"nan": num(math.NaN())}}, "custom_data.nan", "NaN"},
		{&structpb.Struct{Fields: map[string]*structpb.Value{"a": num(1), "b": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"list": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{num(2), num(math.Inf(-1))}}),
		}}), "c": num(math.Inf(1))}}, "custom_data.b.list[1]", "-Inf"},
	} {
		_, err := Conversation{}.CreateConversation(context.Background(), &openv1.CreateConversationRequest{CustomData: tc.data})
		e := errs.From(err)
		if err == nil || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != tc.field ||
			e.Message != tc.field+": must be a finite number (got "+tc.got+"): JSON has no NaN or infinity" {
			t.Errorf("%v: %v %v, want INVALID_ARGUMENT on %s", tc.data, err, e.Metadata, tc.field)
		}
	}
	ok, err := structpb.NewStruct(map[string]any{"n": 1e308, "neg": -0.5, "list": []any{1, "NaN", nil, map[string]any{"x": true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := finiteStruct("custom_data", ok); err != nil {
		t.Fatalf("finite data refused: %v", err)
	}
}
