package server

import (
	"context"
	"errors"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/policy"
)

// Conversation serves ConversationService.
type Conversation struct {
	openv1.UnimplementedConversationServiceServer
	Ingest *conversation.Ingest
	Reader *conversation.Reader
	// Streams caps concurrent PutTranscript streams per caller and in
	// total; nil leaves them uncapped.
	Streams *bound.Slots
}

// CreateConversation creates a conversation idempotently on its origin id.
func (s Conversation) CreateConversation(ctx context.Context, req *openv1.CreateConversationRequest) (*openv1.CreateConversationResponse, error) {
	in := conversation.CreateRequest{
		OriginConversationID: req.GetOriginConversationId(),
		Owner:                conversation.Ref{ID: req.GetOwnerUserId(), OriginID: req.GetOriginOwnerUserId()},
		Deal:                 conversation.Ref{ID: req.GetDealId(), OriginID: req.GetOriginDealId()},
		Title:                req.GetTitle(),
		Channel:              channels.name(req.GetChannel()),
		Direction:            directions.name(req.GetDirection()),
		DurationMS:           req.GetDurationMs(),
		Language:             req.GetLanguage(),
	}
	var err error
	if in.BeginTime, err = protoTime("begin_time", req.GetBeginTime()); err != nil {
		return nil, err
	}
	if cd := req.GetCustomData(); cd != nil {
		if err := finiteStruct("custom_data", cd); err != nil {
			return nil, err
		}
		in.CustomData = cd.AsMap()
	}
	for _, p := range req.GetParticipants() {
		in.Participants = append(in.Participants, conversation.ParticipantInput{
			SpeakerKey:  p.GetSpeakerKey(),
			User:        conversation.Ref{ID: p.GetUserId(), OriginID: p.GetOriginUserId()},
			Name:        p.GetName(),
			Affiliation: affiliations.name(p.GetAffiliation()),
		})
	}
	res, err := s.Ingest.CreateConversation(ctx, in)
	if err != nil {
		return nil, err
	}
	audit.Target(ctx, "conversation", strconv.FormatInt(res.ConversationID, 10))
	return &openv1.CreateConversationResponse{ConversationId: res.ConversationID, Created: res.Created}, nil
}

// PutTranscript reads a header and sentence chunks, then stores them all
// in one transaction once the client has closed its side. While it waits
// for the client's next message it asks the call's token every second: a
// stream whose token is revoked ends then, with the refusal a new call
// would get, and gives back its slots and buffered bytes, however long its
// client stays silent.
func (s Conversation) PutTranscript(stream openv1.ConversationService_PutTranscriptServer) error {
	ctx := stream.Context()
	if s.Streams != nil {
		release, ok := s.Streams.AcquireIn("tenant:"+policy.InfoFrom(ctx).Caller().TenantID, streamKey(ctx))
		if !ok {
			return errs.Of(errs.ReasonOverCapacity, "too many transcript streams at once for this app, this tenant or this server; retry shortly").
				With("retry_after_seconds", "2")
		}
		defer release()
	}
	recv := watchRecv(ctx, stream.Recv, revocationRecheck)
	defer recv.stop()
	first, err := recv.next()
	if errors.Is(err, io.EOF) {
		return errs.InvalidArgument("header", "the stream carried no header")
	}
	if err != nil {
		return clientLate(ctx, err)
	}
	h := first.GetHeader()
	if h == nil {
		return errs.InvalidArgument("header", "the first message of the stream must be the header")
	}
	var expected *int64
	if h.ExpectedSentenceCount != nil {
		n := h.GetExpectedSentenceCount()
		expected = &n
	}
	audit.Target(ctx, "conversation", strconv.FormatInt(h.GetConversationId(), 10))
	up, err := s.Ingest.BeginTranscript(ctx, h.GetConversationId(), expected)
	if err != nil {
		return transcriptFields.Word(err)
	}
	defer up.Release()
	var chunk []conversation.SentenceInput
	for {
		msg, err := recv.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return clientLate(ctx, err)
		}
		if msg.GetHeader() != nil {
			return errs.InvalidArgument("header", "only the first message of the stream may be a header")
		}
		c := msg.GetChunk()
		if c == nil {
			return errs.InvalidArgument("chunk", "every message after the header must be a chunk")
		}
		chunk = chunk[:0]
		for _, st := range c.GetSentences() {
			chunk = append(chunk, conversation.SentenceInput{
				Seq: st.GetSeq(), SpeakerKey: st.GetSpeakerKey(), StartMS: st.GetStartMs(), EndMS: st.GetEndMs(), Text: st.GetText(),
			})
		}
		if err := up.Add(ctx, chunk); err != nil {
			return transcriptFields.Word(err)
		}
	}
	res, err := s.Ingest.CommitTranscript(ctx, up)
	if err != nil {
		return transcriptFields.Word(err)
	}
	return stream.SendAndClose(&openv1.PutTranscriptResponse{
		ConversationId: res.ConversationID,
		SentenceCount:  int64(res.SentenceCount),
		Metrics:        computedMetricsProto(res.Metrics),
	})
}

// clientLate words a Recv that failed because the stream's deadline passed
// while the server waited for the client: the client was too slow, which
// says nothing of the server's health, so one app's unfinished streams
// cannot open the operation's circuit breaker for everyone.
func clientLate(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errs.Of(errs.ReasonClientTimeout, "the stream was not finished within its deadline").WithCause(err)
	}
	return err
}

// streamKey is whose streams a PutTranscript counts against: the app's, or
// the user's or tenant's for other callers.
func streamKey(ctx context.Context) string {
	c := policy.InfoFrom(ctx).Caller()
	switch {
	case c.AppID != "":
		return "app:" + c.AppID
	case c.UserID != "":
		return "user:" + c.UserID
	}
	return "tenant:" + c.TenantID
}

// GetConversation returns a conversation with participants, metrics and
// tracker hit counts.
func (s Conversation) GetConversation(ctx context.Context, req *openv1.GetConversationRequest) (*openv1.GetConversationResponse, error) {
	d, err := s.Reader.Get(ctx, req.GetConversationId())
	if err != nil {
		return nil, idField.Word(err)
	}
	out := &openv1.GetConversationResponse{Conversation: conversationProto(d.Conversation)}
	for _, p := range d.Participants {
		pp := &openv1.Participant{SpeakerKey: p.SpeakerKey, Name: p.Name, Affiliation: affiliations.value(p.Affiliation)}
		if p.UserID != nil {
			pp.UserId = *p.UserID
		}
		out.Participants = append(out.Participants, pp)
	}
	if m := d.Metrics; m != nil {
		out.Metrics = &openv1.Metrics{
			TalkRatio: m.TalkRatio, LongestMonologueMs: m.LongestMonologueMS, LongestCustomerStoryMs: m.LongestCustomerStoryMS,
			Interactivity: m.Interactivity, PatienceMs: m.PatienceMS,
			QuestionCountInternal: int64(m.QuestionCountInternal), QuestionCountExternal: int64(m.QuestionCountExternal),
			QuestionRate: m.QuestionRate, SilenceMs: m.SilenceMS, AlgoVersion: int32(m.AlgoVersion),
		}
	}
	for _, h := range d.TrackerHits {
		out.TrackerHits = append(out.TrackerHits, &openv1.TrackerHitCount{TrackerId: h.TrackerID, TrackerName: h.TrackerName, Hits: h.Hits})
	}
	return out, nil
}

// ListConversations lists conversations in scope matching a filter. A
// filter it cannot read goes to the logic, which refuses it after the
// caller's scope.
func (s Conversation) ListConversations(ctx context.Context, req *openv1.ListConversationsRequest) (*openv1.ListConversationsResponse, error) {
	f, unread := ConversationFilterFromProto(req.GetFilter())
	page, err := s.Reader.List(ctx, conversation.ListRequest{Filter: f, PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Unread: unread})
	if err != nil {
		return nil, filterFields.Word(err)
	}
	out := &openv1.ListConversationsResponse{NextPageToken: page.NextPageToken, Total: page.Total}
	for _, c := range page.Conversations {
		out.Conversations = append(out.Conversations, conversationProto(c))
	}
	return out, nil
}

// GetTranscript returns a page of the sentences in seq order, marking
// matches of q.
func (s Conversation) GetTranscript(ctx context.Context, req *openv1.GetTranscriptRequest) (*openv1.GetTranscriptResponse, error) {
	t, err := s.Reader.TranscriptPage(ctx, conversation.TranscriptPageRequest{
		ID: req.GetConversationId(), Q: req.GetQ(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, idField.Word(err)
	}
	out := &openv1.GetTranscriptResponse{ConversationId: t.ConversationID, Sentences: make([]*openv1.TranscriptSentence, len(t.Sentences)), NextPageToken: t.NextPageToken}
	for i, st := range t.Sentences {
		out.Sentences[i] = &openv1.TranscriptSentence{
			Seq: st.Seq, SpeakerKey: st.SpeakerKey, StartMs: st.StartMS, EndMs: st.EndMS, Text: st.Text, Matches: st.Matches,
		}
	}
	return out, nil
}

// ConversationFilterFromProto converts a filter; nil filters nothing. The
// logic layer validates the values; filterFields names its fields as the
// requests that carry a ConversationFilter do. A timestamp it cannot read
// is an error naming it, for the logic to return after the caller's scope
// (the filter is then incomplete).
func ConversationFilterFromProto(f *openv1.ConversationFilter) (model.ConversationFilter, error) {
	var out model.ConversationFilter
	if f == nil {
		return out, nil
	}
	var err error
	if out.From, err = protoTime("filter.start_time", f.GetStartTime()); err != nil {
		return out, err
	}
	if out.To, err = protoTime("filter.end_time", f.GetEndTime()); err != nil {
		return out, err
	}
	out.OwnerIDs = f.GetOwnerIds()
	out.DepartmentID = f.GetDepartmentId()
	out.DealID = f.GetDealId()
	out.Direction = directions.name(f.GetDirection())
	if f.MinDurationMs != nil {
		v := f.GetMinDurationMs()
		out.MinDurationMS = &v
	}
	if f.MaxDurationMs != nil {
		v := f.GetMaxDurationMs()
		out.MaxDurationMS = &v
	}
	out.TrackerID = f.GetTrackerId()
	return out, nil
}

// filterFields names the fields of the conversation filter in a request
// that carries it as filter.
var filterFields = errs.FieldNames{
	"from":            "filter.start_time",
	"to":              "filter.end_time",
	"owner_ids":       "filter.owner_ids",
	"department_id":   "filter.department_id",
	"deal_id":         "filter.deal_id",
	"direction":       "filter.direction",
	"min_duration_ms": "filter.min_duration_ms",
	"max_duration_ms": "filter.max_duration_ms",
	"tracker_id":      "filter.tracker_id",
}

// idField names the conversation id of a request.
var idField = errs.FieldNames{"id": "conversation_id"}

// transcriptFields names the fields of a transcript upload as the messages
// of the PutTranscript stream carry them.
var transcriptFields = errs.FieldNames{
	"conversation_id":         "header.conversation_id",
	"expected_sentence_count": "header.expected_sentence_count",
	"chunk":                   "chunk.sentences",
}

// finiteStruct refuses a struct that holds a number JSON cannot spell, NaN
// or an infinity, naming field and the key path to it: AsMap keeps it, and
// stored as JSON it would become the string "NaN" or "Infinity", not the
// data as given.
func finiteStruct(field string, st *structpb.Struct) error {
	if path, n, ok := nonFinite(structpb.NewStructValue(st)); ok {
		return errs.InvalidArgument(field+path, "must be a finite number (got %v): JSON has no NaN or infinity", n)
	}
	return nil
}

// nonFinite finds the first number of v (keys in order) that is NaN or an
// infinity: its path below v (".key[2]") and its value. The path is
// spelled only for that number.
func nonFinite(v *structpb.Value) (path string, n float64, ok bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if n := k.NumberValue; math.IsNaN(n) || math.IsInf(n, 0) {
			return "", n, true
		}
	case *structpb.Value_StructValue:
		fields := k.StructValue.GetFields()
		for _, key := range slices.Sorted(maps.Keys(fields)) {
			if path, n, ok := nonFinite(fields[key]); ok {
				return "." + key + path, n, true
			}
		}
	case *structpb.Value_ListValue:
		for i, e := range k.ListValue.GetValues() {
			if path, n, ok := nonFinite(e); ok {
				return "[" + strconv.Itoa(i) + "]" + path, n, true
			}
		}
	}
	return "", 0, false
}

// protoTime converts an optional timestamp; unset is the zero time.
func protoTime(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, errs.InvalidArgument(field, "not a valid timestamp: %v", err)
	}
	return ts.AsTime(), access.CheckGivenTime(field, ts.AsTime())
}

func conversationProto(c conversation.View) *openv1.Conversation {
	out := &openv1.Conversation{
		Id: c.ID, OriginConversationId: c.OriginConversationID, OwnerUserId: c.OwnerUserID, Title: c.Title,
		Channel: channels.value(c.Channel), Direction: directions.value(c.Direction), BeginTime: timestamppb.New(c.BeginTime),
		DurationMs: c.DurationMS, Language: c.Language, Status: statuses.value(c.Status),
	}
	if c.DealID != nil {
		out.DealId = *c.DealID
	}
	if len(c.CustomData) > 0 {
		var st structpb.Struct
		if protojson.Unmarshal(c.CustomData, &st) == nil {
			out.CustomData = &st
		}
	}
	return out
}

func computedMetricsProto(m interaction.Metrics) *openv1.Metrics {
	return &openv1.Metrics{
		TalkRatio: m.TalkRatio, LongestMonologueMs: m.LongestMonologueMS, LongestCustomerStoryMs: m.LongestCustomerStoryMS,
		Interactivity: m.Interactivity, PatienceMs: m.PatienceMS,
		QuestionCountInternal: int64(m.QuestionCountInternal), QuestionCountExternal: int64(m.QuestionCountExternal),
		QuestionRate: m.QuestionRate, SilenceMs: m.SilenceMS, AlgoVersion: int32(m.AlgoVersion),
	}
}
