package search

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/model"
)

// recentSentences makes n sentences of about size bytes each in all.
func recentSentences(n, size int) []model.Sentence {
	out := make([]model.Sentence, n)
	for i := range out {
		text := fmt.Sprintf("%0*d", max(1, size-sentenceOverhead-1), i)
		out[i] = model.Sentence{Seq: i, SpeakerKey: "s", Text: text}
	}
	return out
}

func TestRecentTranscriptsAnswerOnlyTheVersionKept(t *testing.T) {
	r := newRecentTranscripts(1<<20, time.Hour)
	v1, v2 := recentSentences(2, 100), recentSentences(3, 100)
	r.put(1, 7, 1, v1)
	if got, ok := r.get(7, 1); !ok || len(got) != 2 {
		t.Fatalf("get(7, 1) = %d sentences, %v", len(got), ok)
	}
	for _, miss := range [][2]int64{{7, 2}, {7, 0}, {8, 1}} {
		if _, ok := r.get(miss[0], miss[1]); ok {
			t.Errorf("get%v answered", miss)
		}
	}
	r.put(1, 7, 2, v2)
	r.put(1, 7, 1, v1) // a slower writer's older version
	if _, ok := r.get(7, 1); ok {
		t.Error("an older version replaced a newer one")
	}
	if got, ok := r.get(7, 2); !ok || len(got) != 3 {
		t.Fatalf("get(7, 2) = %d sentences, %v", len(got), ok)
	}
	r.indexed(7, 1) // an older version indexed: the newer stays
	if _, ok := r.get(7, 2); !ok {
		t.Error("indexing version 1 dropped version 2")
	}
	r.indexed(7, 2)
	if _, ok := r.get(7, 2); ok {
		t.Error("kept after it was indexed")
	}
	if bytes, n := r.size(); bytes != 0 || n != 0 {
		t.Errorf("empty holds %d bytes in %d entries", bytes, n)
	}
}

func TestRecentTranscriptsKeepTheNewestWithinTheBudget(t *testing.T) {
	one := 10 * 200 // bytes of one transcript below
	r := newRecentTranscripts(3*one, time.Hour)
	for id := int64(1); id <= 3; id++ {
		r.put(1, id, 1, recentSentences(10, 200))
	}
	r.put(1, 1, 2, recentSentences(10, 200)) // 1 is now the newest
	r.put(1, 4, 1, recentSentences(10, 200)) // over budget: 2 goes
	for id, want := range map[int64]bool{1: true, 2: false, 3: true, 4: true} {
		version := int64(1)
		if id == 1 {
			version = 2
		}
		if _, ok := r.get(id, version); ok != want {
			t.Errorf("conversation %d kept: %v, want %v", id, ok, want)
		}
	}
	// A transcript over the whole budget is not kept, and drops the older
	// version it replaces.
	r.put(1, 3, 2, recentSentences(40, 200))
	if _, ok := r.get(3, 1); ok {
		t.Error("version 1 kept after version 2 was written")
	}
	if _, ok := r.get(3, 2); ok {
		t.Error("a transcript over the budget was kept")
	}
	if bytes, n := r.size(); bytes != 2*one || n != 2 {
		t.Errorf("holds %d bytes in %d entries, want %d in 2", bytes, n, 2*one)
	}
}

func TestRecentTranscriptsAccountingUnderChurn(t *testing.T) {
	const limit = 50_000
	r := newRecentTranscripts(limit, time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	versions := map[int64]int64{}
	for range 20_000 {
		id := rng.Int64N(300)
		switch rng.IntN(3) {
		case 0, 1:
			versions[id]++
			r.put(1, id, versions[id], recentSentences(1+rng.IntN(20), 60+rng.IntN(200)))
		case 2:
			r.indexed(id, versions[id])
		}
		if r.bytes > limit {
			t.Fatalf("%d bytes kept, over the budget of %d", r.bytes, limit)
		}
	}
	sum := 0
	for id, e := range r.entries {
		sum += e.bytes
		if e.version != versions[id] {
			t.Errorf("conversation %d keeps version %d, latest %d", id, e.version, versions[id])
		}
	}
	if sum != r.bytes {
		t.Errorf("entries hold %d bytes, accounted %d", sum, r.bytes)
	}
	if len(r.order) > max(64, 2*len(r.entries))+1 {
		t.Errorf("order holds %d positions for %d entries", len(r.order), len(r.entries))
	}
}

// size is the bytes kept and the number of entries.
func (r *recentTranscripts) size() (bytes, entries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes, len(r.entries)
}
