//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/http/controller"
)

// Comments racing the deletion of their conversation, on the real binary
// and MariaDB: each round, users comment on a new conversation while its
// admin deletes it. A comment is either acknowledged (201) and then goes
// with its conversation, or refused as CONVERSATION_NOT_FOUND; afterwards
// no comment row is left of any deleted conversation, and the comments
// of a conversation nobody deleted are all there.
func TestCommentsRacingConversationDeleteOnMariaDB(t *testing.T) {
	commentsRacingConversationDelete(t, mysqlEnv(t))
}

// The same race on the embedded default, whose SQLite store lets one
// writer in at a time: a comment or a delete that read before another
// writer committed waits for it, and is never refused as the store busy.
func TestCommentsRacingConversationDeleteOnTheEmbeddedDefault(t *testing.T) {
	commentsRacingConversationDelete(t, nil)
}

func commentsRacingConversationDelete(t *testing.T, env map[string]string) {
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	admin := f.Token(t, f.Admin)
	// Everyone who sees the owner's conversations.
	authors := []string{admin, f.Token(t, f.Manager), f.Token(t, f.Reps[0])}
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	const rounds, perAuthor = 40, 4

	type answer struct {
		status  int
		reason  string
		comment int64
		err     error
	}
	comment := func(conv int64, token string, n int) answer {
		r, err := tryCall(s, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments", conv), token,
			map[string]any{"start_ms": 1000 * n, "text": fmt.Sprintf("note %d", n)})
		a := answer{status: r.Status, reason: r.Reason, err: err}
		if err == nil && r.Status == http.StatusCreated {
			var c controller.CommentJSON
			a.err = json.Unmarshal(r.Data, &c)
			a.comment = c.ID
		}
		return a
	}
	var acknowledged, refused int
	kept := p.create("race-kept", f.Reps[0].ID, begin, 120_000, nil)
	var keptComments []int64
	for round := range rounds {
		conv := p.create(fmt.Sprintf("race-cmt-%d", round), f.Reps[0].ID, begin, 120_000, nil)
		// One comment surely before the deletion, which must take it along.
		if a := comment(conv, admin, 0); a.err != nil || a.status != http.StatusCreated {
			t.Fatalf("round %d: the first comment: %d %s %v", round, a.status, a.reason, a.err)
		}
		var (
			mu      sync.Mutex
			answers []answer
			wg      sync.WaitGroup
		)
		for _, token := range authors {
			wg.Go(func() {
				for n := range perAuthor {
					a := comment(conv, token, n)
					mu.Lock()
					answers = append(answers, a)
					mu.Unlock()
				}
			})
		}
		// The comments on the conversation nobody deletes go on meanwhile.
		wg.Go(func() {
			a := comment(kept, authors[round%len(authors)], round)
			mu.Lock()
			defer mu.Unlock()
			if a.err != nil || a.status != http.StatusCreated {
				t.Errorf("round %d: a comment on the kept conversation: %d %s %v", round, a.status, a.reason, a.err)
				return
			}
			keptComments = append(keptComments, a.comment)
		})
		time.Sleep(time.Duration(rand.N(15)) * time.Millisecond)
		del, err := tryCall(s, http.MethodDelete, fmt.Sprintf("/api/v1/conversations/%d", conv), admin, nil)
		wg.Wait()
		if err != nil || del.Status != http.StatusOK {
			t.Fatalf("round %d: delete: %d %s %v", round, del.Status, del.Reason, err)
		}
		for _, a := range answers {
			switch {
			case a.err != nil:
				t.Fatalf("round %d: comment: %v", round, a.err)
			case a.status == http.StatusCreated:
				acknowledged++
			case a.status == http.StatusNotFound && a.reason == "CONVERSATION_NOT_FOUND":
				refused++
			default:
				t.Fatalf("round %d: comment answered %d %s, want 201 or 404 CONVERSATION_NOT_FOUND", round, a.status, a.reason)
			}
		}
		// The conversation went with every comment it had, and one more
		// is refused.
		wantNoRows(t, f, conv)
		if a := comment(conv, admin, 0); a.err != nil || a.status != http.StatusNotFound || a.reason != "CONVERSATION_NOT_FOUND" {
			t.Fatalf("round %d: a comment after the deletion: %d %s %v", round, a.status, a.reason, a.err)
		}
	}
	// Nowhere in the tenant is a comment whose conversation is gone.
	var orphans int64
	err := f.DB.Table("comments AS cm").
		Where("cm.tenant_id = ? AND NOT EXISTS (SELECT 1 FROM conversations AS c WHERE c.id = cm.conversation_id)", f.Tenant.ID).
		Count(&orphans).Error
	if err != nil || orphans != 0 {
		t.Fatalf("%d comments outlive their conversation (%v)", orphans, err)
	}
	var stored int64
	if err := f.DB.Table("comments").Where("conversation_id = ? AND id IN ? AND deleted_at IS NULL", kept, keptComments).Count(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if int(stored) != rounds || len(keptComments) != rounds {
		t.Fatalf("the kept conversation has %d of its %d acknowledged comments, want %d", stored, len(keptComments), rounds)
	}
	// How the racing comments fell: both sides are checked above whatever
	// the split, which the machine's load decides.
	t.Logf("%d rounds: of the racing comments %d acknowledged (then deleted with their conversation), %d refused",
		rounds, acknowledged, refused)
}
