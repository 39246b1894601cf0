//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// partner is an open-platform client of one fixture tenant over gRPC.
type partner struct {
	t     *testing.T
	conv  openv1.ConversationServiceClient
	deals openv1.DealServiceClient
	ctx   context.Context
}

func newPartner(t *testing.T, conn *grpc.ClientConn, token string) *partner {
	return &partner{
		t: t, conv: openv1.NewConversationServiceClient(conn), deals: openv1.NewDealServiceClient(conn),
		ctx: metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token),
	}
}

// create makes a call of duration ms owned by owner, with the owner as
// speaker "rep" and a customer as "cust".
func (p *partner) create(origin string, owner int64, begin time.Time, duration int64, mut func(*openv1.CreateConversationRequest)) int64 {
	p.t.Helper()
	req := &openv1.CreateConversationRequest{
		OriginConversationId: origin,
		Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: owner},
		Channel:              openv1.Channel_CHANNEL_CALL,
		Direction:            openv1.Direction_DIRECTION_OUTBOUND,
		BeginTime:            timestamppb.New(begin),
		DurationMs:           duration,
		Participants: []*openv1.ParticipantInput{
			{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: owner}},
			{SpeakerKey: "cust", Name: "王总", Affiliation: openv1.Affiliation_AFFILIATION_EXTERNAL},
		},
	}
	if mut != nil {
		mut(req)
	}
	res, err := p.conv.CreateConversation(p.ctx, req)
	if err != nil {
		p.t.Fatalf("create %s: %v", origin, err)
	}
	return res.ConversationId
}

// put streams a transcript: the header, then chunks of chunk sentences.
func (p *partner) put(id int64, sentences []*openv1.Sentence, chunk int) (*openv1.PutTranscriptResponse, error) {
	st, err := p.conv.PutTranscript(p.ctx)
	if err != nil {
		return nil, err
	}
	n := int64(len(sentences))
	if err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{
		Header: &openv1.TranscriptHeader{ConversationId: id, ExpectedSentenceCount: &n}}}); err != nil {
		return nil, err
	}
	for i := 0; i < len(sentences); i += chunk {
		err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{
			Chunk: &openv1.SentenceChunk{Sentences: sentences[i:min(i+chunk, len(sentences))]}}})
		if err != nil {
			break // the server answered early; CloseAndRecv has its error
		}
	}
	return st.CloseAndRecv()
}

// transcript makes n sentences alternating between the rep and the
// customer, with questions and back-channels; tag marks whose they are.
// transcriptMS is how long a call transcript(n, …) fits in: the end of
// its last sentence.
func transcriptMS(n int) int64 {
	if n == 0 {
		return 0
	}
	return transcript(n, "")[n-1].EndMs
}

func transcript(n int, tag string) []*openv1.Sentence {
	lines := []struct{ speaker, text string }{
		{"rep", "您好，请问今年在销售培训上的预算大概是多少？"},
		{"cust", "嗯"},
		{"cust", "预算大概五十万，but it depends on the pricing."},
		{"rep", "We price per seat and larger teams get a discount."},
		{"cust", "ok"},
		{"rep", "我们可以先做两周的试用，您看可以吗？"},
	}
	out := make([]*openv1.Sentence, n)
	var t int64
	for i := range out {
		l := lines[i%len(lines)]
		dur := int64(400)
		if len([]rune(l.text)) > 5 {
			dur = 2000
		}
		out[i] = &openv1.Sentence{Seq: int64(i), SpeakerKey: l.speaker, StartMs: t, EndMs: t + dur, Text: fmt.Sprintf("%s %s#%d", l.text, tag, i)}
		t += dur + 200
	}
	return out
}

// rpcReason is the code and ErrorInfo reason of a gRPC error.
func rpcReason(err error) (codes.Code, string, map[string]string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.Reason, info.Metadata
		}
	}
	return st.Code(), "", nil
}

func wantRPC(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	c, r, _ := rpcReason(err)
	if c != code || (reason != "" && r != reason) {
		t.Fatalf("%s: got %v %s (%v), want %v %s", what, c, r, err, code, reason)
	}
}

func TestIngestOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	rep := f.Reps[0]

	// Deals by origin id.
	dealReq := &openv1.UpsertDealRequest{OriginDealId: "crm-deal-1", Name: "华信科技 200 席", AmountCents: 1_234_567,
		Owner: &openv1.UpsertDealRequest_OwnerUserId{OwnerUserId: rep.ID}}
	d1, err := p.deals.UpsertDeal(p.ctx, dealReq)
	if err != nil || !d1.Created || d1.Deal.Id == 0 || d1.Deal.OwnerUserId != rep.ID {
		t.Fatalf("upsert deal: %v %v", d1, err)
	}
	d2, err := p.deals.UpsertDeal(p.ctx, dealReq)
	if err != nil || d2.Created || d2.Deal.Id != d1.Deal.Id {
		t.Fatalf("upsert deal again: %v %v", d2, err)
	}
	_, err = p.deals.UpsertDeal(p.ctx, &openv1.UpsertDealRequest{OriginDealId: "crm-deal-2", Name: "x",
		Owner: &openv1.UpsertDealRequest_OriginOwnerUserId{OriginOwnerUserId: "nobody"}})
	wantRPC(t, "deal with an unknown owner", err, codes.NotFound, "USER_NOT_FOUND")

	// Create: idempotent, conflicts refused, references checked.
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	custom, _ := structpb.NewStruct(map[string]any{"crm": "acme", "score": 3})
	req := &openv1.CreateConversationRequest{
		OriginConversationId: "crm-call-1",
		Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: rep.ID},
		Deal:                 &openv1.CreateConversationRequest_OriginDealId{OriginDealId: "crm-deal-1"},
		Title:                "预算沟通", Channel: openv1.Channel_CHANNEL_CALL, BeginTime: timestamppb.New(begin),
		DurationMs: 3 * 3_600_000, Language: "zh-CN", CustomData: custom,
		Participants: []*openv1.ParticipantInput{
			{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: rep.ID}},
			{SpeakerKey: "cust", Name: "王总", Affiliation: openv1.Affiliation_AFFILIATION_EXTERNAL},
		},
	}
	c1, err := p.conv.CreateConversation(p.ctx, req)
	if err != nil || !c1.Created {
		t.Fatalf("create: %v %v", c1, err)
	}
	c2, err := p.conv.CreateConversation(p.ctx, req)
	if err != nil || c2.Created || c2.ConversationId != c1.ConversationId {
		t.Fatalf("create again: %v %v", c2, err)
	}
	conflicting := proto.Clone(req).(*openv1.CreateConversationRequest)
	conflicting.Title = "另一个标题"
	_, err = p.conv.CreateConversation(p.ctx, conflicting)
	wantRPC(t, "conflicting create", err, codes.AlreadyExists, errs.ReasonConversationConflict)
	unknownOwner := proto.Clone(req).(*openv1.CreateConversationRequest)
	unknownOwner.OriginConversationId, unknownOwner.Owner = "crm-call-x", &openv1.CreateConversationRequest_OriginOwnerUserId{OriginOwnerUserId: "ghost"}
	_, err = p.conv.CreateConversation(p.ctx, unknownOwner)
	wantRPC(t, "unknown owner", err, codes.NotFound, "USER_NOT_FOUND")
	if _, _, md := rpcReason(err); md["field"] != "origin_owner_user_id" {
		t.Fatalf("unknown owner names %v", md)
	}
	noChannel := proto.Clone(req).(*openv1.CreateConversationRequest)
	noChannel.OriginConversationId, noChannel.Channel = "crm-call-y", openv1.Channel_CHANNEL_UNSPECIFIED
	_, err = p.conv.CreateConversation(p.ctx, noChannel)
	wantRPC(t, "no channel", err, codes.InvalidArgument, "INVALID_ARGUMENT")

	// Concurrent duplicates (a partner retrying after a timeout) make one row.
	var wg sync.WaitGroup
	ids := make(chan *openv1.CreateConversationResponse, 10)
	for range 10 {
		wg.Go(func() {
			dup := proto.Clone(req).(*openv1.CreateConversationRequest)
			dup.OriginConversationId = "crm-call-retried"
			res, err := p.conv.CreateConversation(p.ctx, dup)
			if err != nil {
				t.Errorf("concurrent create: %v", err)
				return
			}
			ids <- res
		})
	}
	wg.Wait()
	close(ids)
	created, seen := 0, map[int64]bool{}
	for r := range ids {
		seen[r.ConversationId] = true
		if r.Created {
			created++
		}
	}
	var rows int64
	f.DB.Model(&model.Conversation{}).Where("tenant_id = ? AND origin_conversation_id = ?", f.Tenant.ID, "crm-call-retried").Count(&rows)
	if created != 1 || len(seen) != 1 || rows != 1 {
		t.Fatalf("concurrent creates: %d created, ids %v, %d rows", created, seen, rows)
	}

	// A 3-hour call of 5,000 sentences, streamed in chunks of 1,000.
	id := c1.ConversationId
	long := transcript(5000, "long")
	long = append(long, &openv1.Sentence{Seq: 5000, SpeakerKey: "guest", StartMs: long[4999].EndMs, EndMs: long[4999].EndMs + 3000, Text: "Sorry, who joined?"})
	started := time.Now()
	res, err := p.put(id, long, 1000)
	if err != nil || res.SentenceCount != 5001 || res.Metrics == nil {
		t.Fatalf("put 5,001 sentences: %v %v", res, err)
	}
	t.Logf("PutTranscript of 5,001 sentences took %s", time.Since(started))
	got, err := p.conv.GetTranscript(p.ctx, &openv1.GetTranscriptRequest{ConversationId: id})
	if err != nil || len(got.Sentences) != len(long) {
		t.Fatalf("get transcript: %d sentences, %v", len(got.GetSentences()), err)
	}
	for i, s := range got.Sentences {
		w := long[i]
		if s.Seq != w.Seq || s.SpeakerKey != w.SpeakerKey || s.StartMs != w.StartMs || s.EndMs != w.EndMs || s.Text != w.Text {
			t.Fatalf("sentence %d: got %v, want %v", i, s, w)
		}
	}
	conv, err := p.conv.GetConversation(p.ctx, &openv1.GetConversationRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if conv.Conversation.Status != openv1.ConversationStatus_CONVERSATION_STATUS_READY || conv.Conversation.DealId != d1.Deal.Id ||
		conv.Conversation.CustomData.AsMap()["crm"] != "acme" || !conv.Conversation.BeginTime.AsTime().Equal(begin) {
		t.Fatalf("conversation: %v", conv.Conversation)
	}
	var aff []string
	for _, pp := range conv.Participants {
		aff = append(aff, pp.SpeakerKey+"="+pp.Affiliation.String())
	}
	if want := []string{"cust=AFFILIATION_EXTERNAL", "guest=AFFILIATION_UNKNOWN", "rep=AFFILIATION_INTERNAL"}; !slices.Equal(aff, want) {
		t.Fatalf("participants %v, want %v", aff, want)
	}
	assertStoredMetrics(t, p, id)

	// Bad streams: nothing stored, the old transcript stays.
	bad := transcript(3, "bad")
	bad[2].Seq = 1
	_, err = p.put(id, bad, 10)
	wantRPC(t, "repeated seq", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if !strings.Contains(status.Convert(err).Message(), "seq 1") {
		t.Fatalf("the error does not name the seq: %v", err)
	}
	bad = transcript(3, "bad")
	bad[1].EndMs = bad[1].StartMs - 1
	_, err = p.put(id, bad, 10)
	if _, _, md := rpcReason(err); md["field"] != "sentence.end_ms" || md["seq"] != "1" {
		t.Fatalf("end before start: %v %v", err, md)
	}
	bad = transcript(2, "bad")
	bad[0].Text = strings.Repeat("长", 1400)
	_, err = p.put(id, bad, 10)
	wantRPC(t, "text over 4 KiB", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = p.put(id, transcript(1001, "bad"), 1001)
	wantRPC(t, "chunk of 1,001", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	st, _ := p.conv.PutTranscript(p.ctx)
	_ = st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{Sentences: transcript(1, "x")}}})
	_, err = st.CloseAndRecv()
	wantRPC(t, "no header", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	st, _ = p.conv.PutTranscript(p.ctx)
	five := int64(5)
	_ = st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{Header: &openv1.TranscriptHeader{ConversationId: id, ExpectedSentenceCount: &five}}})
	_ = st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{Sentences: transcript(4, "x")}}})
	_, err = st.CloseAndRecv()
	wantRPC(t, "truncated upload", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = p.put(id+1_000_000, transcript(2, "x"), 10)
	wantRPC(t, "unknown conversation, one chunk", err, codes.NotFound, "CONVERSATION_NOT_FOUND")
	_, err = p.put(id+1_000_000, transcript(30, "x"), 10)
	wantRPC(t, "unknown conversation, three chunks", err, codes.NotFound, "CONVERSATION_NOT_FOUND")
	if got, _ := p.conv.GetTranscript(p.ctx, &openv1.GetTranscriptRequest{ConversationId: id}); len(got.GetSentences()) != len(long) {
		t.Fatalf("a refused upload changed the transcript: %d sentences", len(got.GetSentences()))
	}

	// Scopes: an app without "ingest" may not write; another tenant's app
	// does not find the conversation.
	readOnly := f.App
	readOnly.Scopes = "read"
	ro, err := f.tokens.IssueApp(&readOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newPartner(t, s.GRPC(), ro).put(id, transcript(2, "ro"), 10)
	wantRPC(t, "put without the ingest scope", err, codes.PermissionDenied, "PERMISSION_DENIED")
	other := NewFixture(t, s)
	op := newPartner(t, s.GRPC(), other.AppToken(t))
	_, err = op.put(id, transcript(2, "other"), 10)
	wantRPC(t, "put into another tenant", err, codes.NotFound, "CONVERSATION_NOT_FOUND")
	_, err = op.conv.GetConversation(op.ctx, &openv1.GetConversationRequest{ConversationId: id})
	wantRPC(t, "get from another tenant", err, codes.NotFound, "CONVERSATION_NOT_FOUND")

	// Every stored transcript queued its indexing, in the same transaction.
	var jobs []model.OutboxJob
	f.DB.Where("conversation_id = ? AND kind = ?", id, model.OutboxTranscript).Find(&jobs)
	if len(jobs) != 1 || jobs[0].Version != 1 || jobs[0].TenantID != f.Tenant.ID {
		t.Fatalf("outbox jobs %+v", jobs)
	}
}

func TestIngestConcurrentTranscriptsSerializeOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	id := p.create("busy-call", f.Reps[0].ID, time.Now().Add(-2*time.Hour), transcriptMS(3000), nil)
	// Other conversations take transcripts at the same time, so writers of
	// neighbouring rows meet too.
	neighbours := []int64{
		p.create("neighbour-1", f.Reps[1].ID, time.Now().Add(-time.Hour), 3_600_000, nil),
		p.create("neighbour-2", f.Reps[2].ID, time.Now().Add(-time.Hour), 3_600_000, nil),
	}
	const rounds = 4
	var wg sync.WaitGroup
	for w, n := range []int{3000, 1200, 2500} {
		wg.Go(func() {
			for r := range rounds {
				tr := transcript(n, fmt.Sprintf("w%d-r%d", w, r))
				if w == 1 { // a different shape: the customer talks first
					for _, s := range tr {
						s.SpeakerKey = map[string]string{"rep": "cust", "cust": "rep"}[s.SpeakerKey]
					}
				}
				if _, err := p.put(id, tr, 500); err != nil {
					t.Errorf("writer %d round %d: %v", w, r, err)
				}
			}
		})
	}
	for i, nid := range neighbours {
		wg.Go(func() {
			for r := range rounds {
				if _, err := p.put(nid, transcript(800+100*i, fmt.Sprintf("n%d-r%d", i, r)), 400); err != nil {
					t.Errorf("neighbour %d round %d: %v", i, r, err)
				}
			}
		})
	}
	wg.Wait()
	// The stored transcript is one writer's whole transcript, never a mix,
	// and the stored metrics are those of exactly that transcript.
	got, err := p.conv.GetTranscript(p.ctx, &openv1.GetTranscriptRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	tag := got.Sentences[0].Text[strings.LastIndex(got.Sentences[0].Text, " ")+1 : strings.LastIndex(got.Sentences[0].Text, "#")]
	for _, s := range got.Sentences {
		if !strings.Contains(s.Text, " "+tag+"#") {
			t.Fatalf("a mixed transcript: %q next to %q", got.Sentences[0].Text, s.Text)
		}
	}
	assertStoredMetrics(t, p, id)
	for _, nid := range neighbours {
		assertStoredMetrics(t, p, nid)
	}
	var versions []int64
	f.DB.Model(&model.OutboxJob{}).Where("conversation_id = ? AND kind = ?", id, model.OutboxTranscript).Order("version").Pluck("version", &versions)
	if len(versions) != 3*rounds || versions[0] != 1 || versions[len(versions)-1] != 3*rounds {
		t.Fatalf("transcript versions %v, want 1..%d", versions, 3*rounds)
	}
	// Every transcript was written by exactly one committed transaction,
	// alone or with others that arrived with it.
	if n := metric(t, s, "mgv_transcript_commit_group_size_sum"); n != 5*rounds {
		t.Errorf("committed transactions wrote %v transcripts, want %d", n, 5*rounds)
	}
}

// assertStoredMetrics recomputes the metrics of what GetTranscript returns
// and compares them with what GetConversation says is stored.
func assertStoredMetrics(t *testing.T, p *partner, id int64) {
	t.Helper()
	c, err := p.conv.GetConversation(p.ctx, &openv1.GetConversationRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := p.conv.GetTranscript(p.ctx, &openv1.GetTranscriptRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	internal := map[string]bool{}
	for _, pp := range c.Participants {
		internal[pp.SpeakerKey] = pp.Affiliation == openv1.Affiliation_AFFILIATION_INTERNAL
	}
	ms := make([]interaction.Sentence, len(tr.Sentences))
	for i, s := range tr.Sentences {
		side := interaction.SideExternal
		if internal[s.SpeakerKey] {
			side = interaction.SideInternal
		}
		ms[i] = interaction.Sentence{Seq: int(s.Seq), StartMS: s.StartMs, EndMS: s.EndMs, Side: side, Text: s.Text}
	}
	want := interaction.Compute(c.Conversation.DurationMs, ms)
	m := c.Metrics
	if m == nil || m.TalkRatio != want.TalkRatio || m.LongestMonologueMs != want.LongestMonologueMS ||
		m.LongestCustomerStoryMs != want.LongestCustomerStoryMS || m.Interactivity != want.Interactivity ||
		m.PatienceMs != want.PatienceMS || m.QuestionCountInternal != int64(want.QuestionCountInternal) ||
		m.QuestionCountExternal != int64(want.QuestionCountExternal) || m.SilenceMs != want.SilenceMS {
		t.Fatalf("conversation %d: stored metrics %v, the stored transcript of %d sentences gives %+v", id, m, len(tr.Sentences), want)
	}
}

// A conversation holds at most 100 participants, and a transcript cannot
// push it past them with speaker keys of its own: each new key would be
// a participant, and thousands of them in one upload failed the insert
// (too many SQL variables) and were answered UNAVAILABLE, counting
// against the operation's breaker, however often the partner retried.
// Both databases answer INVALID_ARGUMENT naming the field, and store
// nothing.
func TestTranscriptSpeakersAreBounded(t *testing.T) {
	for _, db := range []string{"sqlite", "mysql"} {
		t.Run(db, func(t *testing.T) {
			var env map[string]string
			if db == "mysql" {
				env = mysqlEnv(t)
			}
			s := NewService(t, env)
			f := NewFixture(t, s)
			s.Start()
			p := newPartner(t, s.GRPC(), f.AppToken(t))
			id := p.create("speakers-"+db, f.Reps[0].ID, time.Now().Add(-time.Hour), 3_600_000, nil)
			speakers := func(n, keys int) []*openv1.Sentence {
				out := make([]*openv1.Sentence, n)
				for i := range out {
					out[i] = &openv1.Sentence{Seq: int64(i), SpeakerKey: fmt.Sprintf("spk-%d", i%keys), StartMs: int64(i) * 100, EndMs: int64(i)*100 + 50, Text: "嗯"}
				}
				return out
			}
			for _, keys := range []int{101, 12_000} {
				_, err := p.put(id, speakers(12_000, keys), 1000)
				wantRPC(t, fmt.Sprintf("%d speaker keys", keys), err, codes.InvalidArgument, errs.ReasonInvalidArgument)
				if _, _, md := rpcReason(err); md["field"] != "sentence.speaker_key" {
					t.Fatalf("%d speaker keys: field %q, want sentence.speaker_key (%v)", keys, md["field"], err)
				}
			}
			// The two participants of the conversation and 98 new keys fit.
			if res, err := p.put(id, speakers(500, 98), 100); err != nil || res.SentenceCount != 500 {
				t.Fatalf("98 new speaker keys: %v %v", res, err)
			}
			got, err := p.conv.GetConversation(p.ctx, &openv1.GetConversationRequest{ConversationId: id})
			if err != nil || len(got.Participants) != 100 {
				t.Fatalf("participants: %d %v", len(got.GetParticipants()), err)
			}
			// A later transcript with other keys would make more than 100.
			other := speakers(10, 10)
			for _, s := range other {
				s.SpeakerKey = "later-" + s.SpeakerKey
			}
			_, err = p.put(id, other, 10)
			wantRPC(t, "keys beyond the conversation's 100 participants", err, codes.InvalidArgument, errs.ReasonInvalidArgument)
			if res, err := p.put(id, transcript(6, "again"), 6); err != nil || res.SentenceCount != 6 {
				t.Fatalf("known speakers again: %v %v", res, err)
			}
		})
	}
}

// A sentence's text may run over lines and hold tabs, but a control
// character (NUL, a terminal escape, DEL, a C1 control) refuses the
// transcript on the chunk that carries it, with INVALID_ARGUMENT naming the
// sentence and the character, and the transcript stored before stays.
func TestTranscriptTextRefusesControlCharacters(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	id := p.create("control-chars", f.Reps[0].ID, time.Now().Add(-time.Hour), 3_600_000, nil)
	good := transcript(30, "good")
	good[4].Text = "第一句\r\n\tsecond line"
	if res, err := p.put(id, good, 10); err != nil || res.SentenceCount != 30 {
		t.Fatalf("a transcript with line breaks and tabs: %v %v", res, err)
	}
	stored := func(what string) {
		t.Helper()
		got, err := p.conv.GetTranscript(p.ctx, &openv1.GetTranscriptRequest{ConversationId: id})
		if err != nil || len(got.Sentences) != 30 || got.Sentences[4].Text != good[4].Text || got.Sentences[29].Text != good[29].Text {
			t.Fatalf("%s: the stored transcript is %d sentences (%v)", what, len(got.GetSentences()), err)
		}
	}
	stored("the transcript with line breaks")
	for _, tc := range []struct {
		text, char string
	}{
		{"\x1b[2J\x1b[31mALERT", "U+001B"},
		{"nul\x00byte", "U+0000"},
		{"delete\x7f", "U+007F"},
		{"next line\u0085", "U+0085"},
		{"csi\u009b31m", "U+009B"},
		{"bell\a", "U+0007"},
	} {
		bad := transcript(30, "bad")
		bad[17].Text = tc.text
		// The second chunk carries the control character: the server
		// refuses it there, before the third is read.
		_, err := p.put(id, bad, 10)
		code, reason, md := rpcReason(err)
		if code != codes.InvalidArgument || reason != errs.ReasonInvalidArgument || md["field"] != "sentence.text" || md["seq"] != "17" ||
			!strings.Contains(status.Convert(err).Message(), tc.char) || !strings.Contains(status.Convert(err).Message(), "seq 17") {
			t.Fatalf("%q: %v (%v), want INVALID_ARGUMENT naming sentence.text, seq 17 and %s", tc.text, err, md, tc.char)
		}
		stored(fmt.Sprintf("after the refused %q", tc.text))
	}

	// Text that is not UTF-8 cannot come from a conforming client: put
	// on the wire by hand, it is refused as the chunk's malformed message,
	// a 400 and not a failure of the server.
	raw, err := s.GRPC().NewStream(p.ctx, &openv1.ConversationService_ServiceDesc.Streams[0],
		openv1.ConversationService_PutTranscript_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	frame := func(m *openv1.PutTranscriptRequest) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chunk := frame(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{
		Sentences: []*openv1.Sentence{{Seq: 0, SpeakerKey: "rep", EndMs: 10, Text: "ab<>cd"}}}}})
	chunk = bytes.Replace(chunk, []byte("<>"), []byte{0xff, 0xfe}, 1)
	for _, b := range [][]byte{frame(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{
		Header: &openv1.TranscriptHeader{ConversationId: id}}}), chunk} {
		if err := raw.SendMsg(b); err != nil {
			break // the server answered early; RecvMsg has its error
		}
	}
	_ = raw.CloseSend()
	var out []byte
	err = raw.RecvMsg(&out)
	wantRPC(t, "text that is not UTF-8", err, codes.InvalidArgument, errs.ReasonInvalidArgument)
	if !strings.Contains(status.Convert(err).Message(), "invalid UTF-8") {
		t.Fatalf("text that is not UTF-8: %v", err)
	}
	stored("after the refused text that is not UTF-8")
}

// TestSparseSeqsAreReplacedOnTheEmbeddedEngine: a transcript may number
// its sentences 0 and 2^31-1. Replacing it is indexed like any other, and
// the conversations ingested after it are not held up behind it.
func TestSparseSeqsAreReplacedOnTheEmbeddedEngine(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	first, second, after := newTag(), newTag(), newTag()
	id := p.create("sparse-"+first, f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, nil)
	last := &openv1.Sentence{Seq: math.MaxInt32, SpeakerKey: "cust", StartMs: 4000, EndMs: 5000, Text: "last " + first}
	if _, err := p.put(id, []*openv1.Sentence{sentence(0, "rep", "first "+first), last}, 10); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, first, 1, 20*time.Second)
	if _, err := p.put(id, []*openv1.Sentence{sentence(0, "rep", "replaced "+second)}, 10); err != nil {
		t.Fatal(err)
	}
	other := p.create("after-"+after, f.Reps[1].ID, time.Now().Add(-time.Hour), 60_000, nil)
	if _, err := p.put(other, []*openv1.Sentence{sentence(0, "rep", "hello "+after)}, 10); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, second, 1, 20*time.Second)
	waitSearch(t, s, admin, after, 1, 20*time.Second)
	waitSearch(t, s, admin, first, 0, 20*time.Second)
}
