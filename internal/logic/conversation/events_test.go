package conversation

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/model"
)

// eventStore records each append the event log makes (each is one
// statement of the dao); its reads are unused here.
type eventStore struct {
	mu      sync.Mutex
	appends [][]model.Event
}

func (s *eventStore) Append(_ context.Context, evs []model.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appends = append(s.appends, evs)
	return nil
}

func (*eventStore) After(context.Context, int64, int64, int64, []string, int) ([]model.Event, int64, error) {
	return nil, 0, nil
}
func (*eventStore) Head(context.Context, int64) (int64, int64, error)         { return 0, 0, nil }
func (*eventStore) Heads(context.Context, []int64) (map[int64]int64, error)   { return nil, nil }
func (*eventStore) Trim(context.Context, time.Time, int) (int, error)         { return 0, nil }
func (joinTx) InTx(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }
func (joinTx) AfterCommit(_ context.Context, fn func())                       { fn() }

// joinTx joins the fake repository's transaction, which is already open
// when the event log writes.
type joinTx struct{}

// Group commit keeps its gains with events: the 21 transcripts that the
// rig writes in three transactions append their transcript.ready events
// with three statements, one per transaction, each event naming its
// conversation, version and sentence count.
func TestATranscriptGroupAppendsItsEventsWithOneStatement(t *testing.T) {
	r := newGroupRig(t)
	store := &eventStore{}
	r.in.SetEventLog(events.NewLog(store, joinTx{}, nil))
	ctx := accesstest.App(1, "ingest")
	out := make(chan commitOutcome, 30)
	sentences := map[int64]int{}
	for i := range 21 {
		id := r.conversation()
		sentences[id] = i + 1
		r.commit(t, ctx, id, i+1, out)
		switch i {
		case 0:
			r.waitQueued(t, 0, 1)
		case commitGroup:
			r.waitQueued(t, 0, 1+commitGroup)
		}
	}
	r.waitQueued(t, 4, 1+commitGroup)
	close(r.gate)
	collect(t, out, 21)
	if len(store.appends) != 3 || len(store.appends) != len(r.repo.groups) {
		t.Fatalf("%d appends for %d transactions, want 3", len(store.appends), len(r.repo.groups))
	}
	seen := map[int64]bool{}
	for k, batch := range store.appends {
		if len(batch) != r.repo.groups[k] {
			t.Errorf("append %d holds %d events for a group of %d", k, len(batch), r.repo.groups[k])
		}
		for _, e := range batch {
			var d struct {
				ConversationID    int64 `json:"conversation_id"`
				TranscriptVersion int64 `json:"transcript_version"`
				SentenceCount     int   `json:"sentence_count"`
			}
			if err := json.Unmarshal([]byte(e.Data), &d); err != nil || e.Type != events.TranscriptReady || e.TenantID != 1 ||
				d.TranscriptVersion != 1 || d.SentenceCount != sentences[d.ConversationID] || seen[d.ConversationID] {
				t.Errorf("event %+v (%v)", e, err)
			}
			seen[d.ConversationID] = true
		}
	}
	if len(seen) != 21 {
		t.Errorf("events for %d of 21 transcripts", len(seen))
	}
}
