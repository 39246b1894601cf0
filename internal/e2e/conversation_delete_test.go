//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// conversationRows counts the rows a conversation holds in each table
// derived from it, and its own row.
func conversationRows(t *testing.T, f *Fixture, id int64) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range []string{"participants", "transcript_parts", "conversation_metrics", "tracker_hits", "comments"} {
		var n int64
		if err := f.DB.Table(table).Where("conversation_id = ?", id).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	var n int64
	if err := f.DB.Table("conversations").Where("id = ?", id).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	out["conversations"] = n
	return out
}

func wantNoRows(t *testing.T, f *Fixture, id int64) {
	t.Helper()
	for table, n := range conversationRows(t, f, id) {
		if n != 0 {
			t.Errorf("conversation %d: %d rows left in %s", id, n, table)
		}
	}
}

func TestConversationDeleteOnMariaDBAndElasticsearch(t *testing.T) {
	testConversationDelete(t, NewService(t, esEnv(t, mysqlEnv(t))))
}

func TestConversationDeleteEmbedded(t *testing.T) {
	testConversationDelete(t, NewService(t, nil))
}

// testConversationDelete deletes over both transports, as the wrong
// callers, twice, and racing transcript writes.
func testConversationDelete(t *testing.T, s *Service) {
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	admin, rep := f.Token(t, f.Admin), f.Token(t, f.Reps[0])
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	word := fmt.Sprintf("purgeword%06d", rand.N(1_000_000))
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Purge", "keywords": []string{word}}).
		want(t, http.StatusCreated, "")
	begin := time.Date(2025, 4, 1, 2, 0, 0, 0, time.UTC)
	origin := func(n string) string { return fmt.Sprintf("del-%s-%s", n, word) }
	ids := map[string]int64{}
	for _, n := range []string{"a", "b", "c"} {
		ids[n] = p.create(origin(n), f.Reps[0].ID, begin, 60_000, nil)
		if _, err := p.put(ids[n], []*openv1.Sentence{sentence(0, "rep", "hello "+word), sentence(1, "cust", "yes "+word)}, 10); err != nil {
			t.Fatal(err)
		}
	}
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments", ids["a"]), admin,
		map[string]any{"start_ms": 1000, "text": "note " + word}).want(t, http.StatusCreated, "")
	waitSearch(t, s, admin, word, 3, 20*time.Second)
	if rows := conversationRows(t, f, ids["a"]); rows["tracker_hits"] == 0 || rows["comments"] == 0 || rows["transcript_parts"] == 0 {
		t.Fatalf("the fixture lacks derived rows: %v", rows)
	}

	// HTTP: admins only; a rep is refused and nothing changes.
	path := func(id int64) string { return fmt.Sprintf("/api/v1/conversations/%d", id) }
	authCall(t, s, http.MethodDelete, path(ids["a"]), rep, nil).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodDelete, path(0), admin, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodDelete, path(ids["a"]), admin, nil).want(t, http.StatusOK, "")
	wantNoRows(t, f, ids["a"])
	authCall(t, s, http.MethodGet, path(ids["a"]), admin, nil).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	// A repeated delete is 404 and changes nothing.
	authCall(t, s, http.MethodDelete, path(ids["a"]), admin, nil).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")
	// Another tenant's admin cannot tell it from a missing one.
	authCall(t, s, http.MethodDelete, path(ids["b"]), other.Token(t, other.Admin), nil).want(t, http.StatusNotFound, "CONVERSATION_NOT_FOUND")

	// gRPC, ingest scope; another tenant's app gets NOT_FOUND.
	o := newPartner(t, s.GRPC(), other.AppToken(t))
	_, err := o.conv.DeleteConversation(o.ctx, &openv1.DeleteConversationRequest{ConversationId: ids["b"]})
	wantRPC(t, "another tenant's app", err, codes.NotFound, "CONVERSATION_NOT_FOUND")
	_, err = p.conv.DeleteConversation(p.ctx, &openv1.DeleteConversationRequest{})
	wantRPC(t, "no id", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	res, err := p.conv.DeleteConversation(p.ctx, &openv1.DeleteConversationRequest{ConversationId: ids["b"]})
	if err != nil || res.ConversationId != ids["b"] {
		t.Fatalf("gRPC delete: %v %v\n%s", res, err, s.Stderr)
	}
	wantNoRows(t, f, ids["b"])
	_, err = p.conv.DeleteConversation(p.ctx, &openv1.DeleteConversationRequest{ConversationId: ids["b"]})
	wantRPC(t, "second delete", err, codes.NotFound, "CONVERSATION_NOT_FOUND")
	if rows := conversationRows(t, f, ids["c"]); rows["conversations"] != 1 || rows["transcript_parts"] == 0 {
		t.Fatalf("a conversation nobody deleted lost rows: %v", rows)
	}

	// The index follows: only c is found.
	waitSearch(t, s, admin, word, 1, 20*time.Second)

	// An ingest retry of a deleted origin id creates a new conversation.
	again := p.create(origin("a"), f.Reps[0].ID, begin, 60_000, nil)
	if again == ids["a"] {
		t.Fatalf("the deleted conversation came back with its id %d", again)
	}

	// Deletes racing transcript writes leave no orphans: either the write
	// is first and goes with the conversation, or it finds none.
	deleted := []int64{ids["a"], ids["b"]}
	for i := range 8 {
		id := p.create(fmt.Sprintf("race-%d-%s", i, word), f.Reps[1].ID, begin, transcriptMS(300), nil)
		var wg sync.WaitGroup
		var putErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, putErr = p.put(id, transcript(300, word), 100)
		}()
		time.Sleep(time.Duration(rand.N(20)) * time.Millisecond)
		_, err := p.conv.DeleteConversation(p.ctx, &openv1.DeleteConversationRequest{ConversationId: id})
		wg.Wait()
		if err != nil {
			t.Fatalf("race %d: delete: %v", i, err)
		}
		if putErr != nil {
			wantRPC(t, "a transcript written after the delete", putErr, codes.NotFound, "CONVERSATION_NOT_FOUND")
		}
		wantNoRows(t, f, id)
		deleted = append(deleted, id)
	}
	waitSearch(t, s, admin, word, 1, 20*time.Second)

	// One conversation.deleted event per deletion, none for the others.
	events := deletedEvents(t, s, admin)
	for _, id := range deleted {
		if events[id] != 1 {
			t.Errorf("conversation %d: %d conversation.deleted events", id, events[id])
		}
	}
	if len(events) != len(deleted) {
		t.Errorf("conversation.deleted events for %v, deleted %v", events, deleted)
	}
}

// eventsOf lists the tenant's events of one type, as its admin reads them.
func eventsOf(t *testing.T, s *Service, admin, typ string) []controller.EventJSON {
	t.Helper()
	var out []controller.EventJSON
	for cursor := int64(0); ; {
		var page controller.EventPageJSON
		authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/events?types=%s&cursor=%d", typ, cursor), admin, nil).
			want(t, http.StatusOK, "").decode(t, &page)
		out = append(out, page.Events...)
		if len(page.Events) == 0 || page.NextCursor == cursor {
			return out
		}
		cursor = page.NextCursor
	}
}

// deletedEvents are the conversation ids of conversation.deleted events.
func deletedEvents(t *testing.T, s *Service, admin string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	for _, e := range eventsOf(t, s, admin, "conversation.deleted") {
		id, _ := e.Data["conversation_id"].(float64)
		out[int64(id)]++
	}
	return out
}
