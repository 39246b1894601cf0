//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// TestATranscriptRefusedAtItsCommitChangesNothing: a transcript is refused
// once its conversation is locked for the write when a sentence runs past
// the end of the call (duration_ms), or when its new speaker keys would
// make more than 100 participants. Locking moves the conversation's
// transcript version and sentence count, which used to be committed with
// the refusal: the conversation said it held the refused transcript's
// sentences while it held the earlier ones.
func TestATranscriptRefusedAtItsCommitChangesNothing(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin := f.Token(t, f.Admin)
	unchanged := func(what string, id int64, count int) {
		t.Helper()
		var detail controller.ConversationDetailJSON
		apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d", id), admin).want(t, http.StatusOK, "").decode(t, &detail)
		got, err := p.conv.GetTranscript(p.ctx, &openv1.GetTranscriptRequest{ConversationId: id, PageSize: 1000})
		if n := detail.Conversation.SentenceCount; err != nil || n != count || len(got.Sentences) != count {
			t.Fatalf("%s: the conversation says %d sentences, its transcript holds %d (%v); want %d", what, n, len(got.GetSentences()), err, count)
		}
	}

	const duration = 120_000
	id := p.create("past-the-end", f.Reps[0].ID, time.Now().Add(-time.Hour), duration, nil)
	if _, err := p.put(id, transcript(10, "kept"), 10); err != nil {
		t.Fatal(err)
	}
	long := transcript(20, "long")
	long[15].StartMs, long[15].EndMs = duration-500, duration+1
	_, err := p.put(id, long, 20)
	wantRPC(t, "a sentence past the end of the call", err, codes.InvalidArgument, errs.ReasonInvalidArgument)
	if _, _, md := rpcReason(err); md["field"] != "sentence.end_ms" || md["seq"] != "15" || !strings.Contains(status.Convert(err).Message(), "duration_ms 120000") {
		t.Fatalf("a sentence past the end of the call: %v %v", err, md)
	}
	unchanged("after a sentence past the end of the call", id, 10)
	if _, err := p.put(id, transcript(12, "fits"), 12); err != nil {
		t.Fatalf("a transcript within the call after the refusal: %v", err)
	}
	unchanged("after a transcript within the call", id, 12)

	// 2 participants and 98 new speaker keys make 100; 10 more are refused.
	crowd := p.create("crowded", f.Reps[0].ID, time.Now().Add(-time.Hour), duration, nil)
	keys := func(n, distinct int, prefix string) []*openv1.Sentence {
		out := make([]*openv1.Sentence, n)
		for i := range out {
			out[i] = &openv1.Sentence{Seq: int64(i), SpeakerKey: fmt.Sprintf("%s%d", prefix, i%distinct), StartMs: int64(i) * 100, EndMs: int64(i)*100 + 50, Text: "嗯"}
		}
		return out
	}
	if _, err := p.put(crowd, keys(300, 98, "spk-"), 100); err != nil {
		t.Fatal(err)
	}
	_, err = p.put(crowd, keys(20, 10, "later-"), 20)
	wantRPC(t, "speaker keys past 100 participants", err, codes.InvalidArgument, errs.ReasonInvalidArgument)
	unchanged("after speaker keys past 100 participants", crowd, 300)
}
