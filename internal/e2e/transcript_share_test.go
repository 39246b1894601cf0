//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// One tenant's stalled PutTranscript streams, each within every limit of a
// stream, hold at most the tenant's share of the transcript buffer (its
// share of the streams, 32 of 64, but at least one longest transcript:
// about 88 MB of the 128 MiB), so another tenant's transcript is taken
// meanwhile. Before, they took the whole buffer and the other tenant's
// was refused OVER_CAPACITY until they ended (5 minutes).
func TestOneTenantHoldsItsShareOfTheTranscriptBuffer(t *testing.T) {
	const buffer = 128 << 20
	s := NewService(t, nil)
	hog, other := NewFixture(t, s), NewFixture(t, s)
	s.Start()
	p1, p2 := newPartner(t, s.GRPC(), hog.AppToken(t)), newPartner(t, s.GRPC(), other.AppToken(t))
	begin := time.Date(2025, 5, 1, 2, 0, 0, 0, time.UTC)
	text := strings.Repeat("word ", 800) // 4,000 bytes: 4,075 buffered with its key "rep" and the sentence's 72
	// 3 × 10,000 + 2,936 sentences: 134,214,200 bytes, the whole buffer but
	// 3,528 bytes, less than the other tenant's transcript takes.
	for i, n := range []int{10_000, 10_000, 10_000, 2_936} {
		id := p1.create("hog-"+string(rune('a'+i)), hog.Reps[0].ID, begin, 3_600_000, nil)
		st, err := p1.conv.PutTranscript(p1.ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.CloseSend() })
		if err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{Header: &openv1.TranscriptHeader{ConversationId: id}}}); err != nil {
			t.Fatal(err)
		}
		for seq := 0; seq < n; {
			ss := make([]*openv1.Sentence, 0, 1000)
			for ; seq < n && len(ss) < 1000; seq++ {
				ss = append(ss, &openv1.Sentence{Seq: int64(seq), SpeakerKey: "rep", StartMs: int64(seq) * 100, EndMs: int64(seq)*100 + 90, Text: text})
			}
			if err := st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{Sentences: ss}}}); err != nil {
				break // refused over the tenant's share: the stream ends
			}
		}
	}
	time.Sleep(time.Second) // the server reads what was sent
	c2 := p2.create("victim", other.Reps[0].ID, begin, transcriptMS(60), nil)
	if _, err := p2.put(c2, transcript(60, "victim"), 20); err != nil {
		t.Fatalf("another tenant's 60-sentence transcript while one tenant's streams stall on a %d-byte buffer: %v", buffer, err)
	}
}
