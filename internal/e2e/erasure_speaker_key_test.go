//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// A user whose speaker key is their name or phone number, as meeting
// tools and call centres label speakers, is erased: their name and number
// are then in no table (participants, transcripts, tracker hits) and no
// index document, and the transcript reads their sentences under a key
// that names no one (R12). Before, the erasure cleared the participant's
// name and left the key everywhere.
func TestErasureLeavesNoUserInASpeakerKeyOnMariaDB(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	s, f, admin, p, tag := startErasing(t, env)
	u := f.Reps[1]
	name := "ZhangWei" + tag
	national := "139" + tag + "88"
	if err := f.DB.Exec("UPDATE users SET name = ?, phone = ? WHERE id = ?", name, "+86"+national, u.ID).Error; err != nil {
		t.Fatal(err)
	}
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Greeting", "keywords": []string{"hello"}}).
		want(t, http.StatusCreated, "")
	begin := time.Date(2025, 5, 1, 2, 0, 0, 0, time.UTC)
	var convs []int64
	for i, key := range []string{name, national} {
		id := p.create(fmt.Sprintf("sk-%d-%s", i, tag), u.ID, begin.Add(time.Duration(i)*time.Hour), 60_000, func(r *openv1.CreateConversationRequest) {
			r.Participants[0].SpeakerKey = key
		})
		if _, err := p.put(id, []*openv1.Sentence{sentence(0, key, "hello there from the rep"), sentence(1, "cust", "hello")}, 10); err != nil {
			t.Fatal(err)
		}
		convs = append(convs, id)
	}
	waitSearch(t, s, admin, "rep", 2, 30*time.Second)
	if found := tablesHolding(t, f, name, national); !slices.ContainsFunc(found, func(s string) bool { return strings.HasPrefix(s, "tracker_hits.speaker_key") }) {
		t.Fatalf("before the erasure, no tracker hit holds the key: %v; the check below would prove less", found)
	}
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"email": *u.Email}).want(t, http.StatusAccepted, "").decode(t, &e)
	waitErasure(t, s, admin, e.ID, 60*time.Second)
	if found := tablesHolding(t, f, name, national); len(found) > 0 {
		t.Errorf("after the erasure: %s", strings.Join(found, "; "))
	}
	// The job's end waits for the re-indexing of what it rewrote.
	if found := indexHolding(t, s, name, national); len(found) > 0 {
		t.Errorf("after the erasure, the index: %s", strings.Join(found, "; "))
	}
	for _, id := range convs {
		var tr struct {
			Sentences []struct {
				SpeakerKey string `json:"speaker_key"`
			} `json:"sentences"`
		}
		authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/transcript", id), admin, nil).want(t, http.StatusOK, "").decode(t, &tr)
		if len(tr.Sentences) != 2 || !strings.HasPrefix(tr.Sentences[0].SpeakerKey, "[erased]#") || tr.Sentences[1].SpeakerKey != "cust" {
			t.Errorf("conversation %d's transcript after the erasure: %+v", id, tr.Sentences)
		}
	}
}
