//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"
)

// TestOneEmbeddedSearchOfManyMatchesAllocatesLittle: on the embedded
// default, a search whose query matches more than the 10,000 sentences
// the engine scans reads each one's text only to score it, and the text of
// the page's best sentences alone. The process allocated about 100 MB
// for one when bleve loaded the stored fields of every sentence scanned;
// it allocates about 60 MB now, most of it the analysis that scores them.
func TestOneEmbeddedSearchOfManyMatchesAllocatesLittle(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	tag := newTag()
	begin := time.Now().Add(-48 * time.Hour)
	// Every sentence holds tag: 12,000 sentences match it.
	const convs, sentences = 60, 200
	for i := range convs {
		id := p.create(fmt.Sprintf("m%s-%d", tag, i), f.Reps[i%4].ID, begin.Add(time.Duration(i)*time.Minute), transcriptMS(sentences), nil)
		if _, err := p.put(id, transcript(sentences, tag), sentences); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	admin := f.Token(t, f.Admin)
	// The last sentence of each transcript holds 199: every conversation
	// is indexed whole when each is found.
	waitSearch(t, s, admin, fmt.Sprintf("%s %d", tag, sentences-1), convs, 2*time.Minute)
	for pendingSearchJobs(t, f) > 0 {
		time.Sleep(100 * time.Millisecond)
	}

	least := math.Inf(1)
	for range 3 {
		before := metric(t, s, "go_memstats_alloc_bytes_total")
		r := searchAs(t, s, admin, map[string]any{"query": tag})
		allocated := metric(t, s, "go_memstats_alloc_bytes_total") - before
		if r.Status != http.StatusOK {
			t.Fatalf("search: %d %s %s", r.Status, r.Reason, r.Data)
		}
		var page searchPage
		r.decode(t, &page)
		// The first 10,000 sentences by id are those of 50 conversations.
		if page.Total != 50 {
			t.Fatalf("search found %d conversations, want the 50 of the first 10,000 sentences", page.Total)
		}
		least = min(least, allocated)
	}
	t.Logf("one search allocated %.1f MB", least/1e6)
	if least > searchBytesBound {
		t.Fatalf("one search of 12,000 matching sentences allocated %.1f MB, more than %.0f MB", least/1e6, searchBytesBound/1e6)
	}
}

// searchBytesBound bounds what the process allocates for one search of
// TestOneEmbeddedSearchOfManyMatchesAllocatesLittle.
const searchBytesBound = 80e6
