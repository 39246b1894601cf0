package server

import (
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
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
	for _, d := range []string{model.DirectionInbound, model.DirectionOutbound, model.DirectionUnknown} {
		if directionName(directionProto(d)) != d {
			t.Errorf("direction %s does not round-trip", d)
		}
	}
	for _, a := range []string{model.AffiliationInternal, model.AffiliationExternal, model.AffiliationUnknown} {
		if affiliationName(affiliationProto(a)) != a {
			t.Errorf("affiliation %s does not round-trip", a)
		}
	}
	if channelName(openv1.Channel(7)) != "7" || channelName(openv1.Channel_CHANNEL_UNSPECIFIED) != "" {
		t.Error("channel names")
	}
}

func TestTranscriptErrorsNameStreamFields(t *testing.T) {
	ctx, in := accesstest.App(1, "ingest"), conversation.NewIngest(nil, nil, nil)
	_, err := in.BeginTranscript(ctx, 0, nil)
	if f := errs.From(transcriptFields.Word(err)).Metadata["field"]; f != "header.conversation_id" {
		t.Errorf("conversation id: %q", f)
	}
	minus := int64(-1)
	_, err = in.BeginTranscript(ctx, 1, &minus)
	if f := errs.From(transcriptFields.Word(err)).Metadata["field"]; f != "header.expected_sentence_count" {
		t.Errorf("expected count: %q", f)
	}
	up, _ := in.BeginTranscript(ctx, 1, nil)
	if f := errs.From(transcriptFields.Word(up.Add(ctx, nil))).Metadata["field"]; f != "chunk.sentences" {
		t.Errorf("empty chunk: %q", f)
	}
}
