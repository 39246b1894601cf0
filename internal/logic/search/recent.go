package search

import (
	"sync"
	"unsafe"

	"github.com/megaview/mgvcore/internal/model"
)

// recentTranscripts holds the transcripts this process committed and has
// not indexed yet, so that the indexer builds their documents without
// reading the sentences back from the database. Every write of a
// transcript makes a new transcript version and a version's sentences never
// change, so an entry is right as long as it is kept: a lookup only answers
// for the version asked. An entry goes once its version (or a later one) is
// indexed; beyond the byte budget the oldest go first, and the indexer
// reads those from the database as it would without this.
type recentTranscripts struct {
	mu      sync.Mutex
	limit   int
	bytes   int
	seq     uint64
	entries map[int64]recentTranscript
	// order is the entries oldest first, by conversation id and the seq
	// of the put; a position whose entry was replaced or dropped since is
	// skipped.
	order []recentPut
}

type recentTranscript struct {
	version   int64
	sentences []model.Sentence
	bytes     int
	seq       uint64
}

type recentPut struct {
	conversationID int64
	seq            uint64
}

// sentenceOverhead is what a kept sentence costs besides its strings.
const sentenceOverhead = int(unsafe.Sizeof(model.Sentence{}))

func newRecentTranscripts(limit int) *recentTranscripts {
	return &recentTranscripts{limit: limit, entries: map[int64]recentTranscript{}}
}

// put keeps the sentences of a conversation's committed transcript
// version, replacing an older version's; sentences must not change after.
func (r *recentTranscripts) put(conversationID, version int64, sentences []model.Sentence) {
	size := 0
	for _, s := range sentences {
		size += sentenceOverhead + len(s.SpeakerKey) + len(s.Text)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.entries[conversationID]
	if ok && old.version >= version {
		return // a later write committed first
	}
	if ok {
		r.drop(conversationID, old)
	}
	if size > r.limit {
		return
	}
	r.seq++
	r.entries[conversationID] = recentTranscript{version: version, sentences: sentences, bytes: size, seq: r.seq}
	r.order = append(r.order, recentPut{conversationID, r.seq})
	r.bytes += size
	for r.bytes > r.limit && len(r.order) > 0 {
		p := r.order[0]
		r.order = r.order[1:]
		if e, ok := r.live(p); ok {
			r.drop(p.conversationID, e)
		}
	}
	if len(r.order) > 64 && len(r.order) > 2*len(r.entries) {
		kept := r.order[:0]
		for _, p := range r.order {
			if _, ok := r.live(p); ok {
				kept = append(kept, p)
			}
		}
		r.order = kept
	}
}

// live returns the entry a position of order stands for, unless it was
// replaced or dropped since.
func (r *recentTranscripts) live(p recentPut) (recentTranscript, bool) {
	e, ok := r.entries[p.conversationID]
	return e, ok && e.seq == p.seq
}

func (r *recentTranscripts) drop(conversationID int64, e recentTranscript) {
	delete(r.entries, conversationID)
	r.bytes -= e.bytes
}

// get returns the sentences of version, if kept.
func (r *recentTranscripts) get(conversationID, version int64) ([]model.Sentence, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[conversationID]
	if !ok || e.version != version {
		return nil, false
	}
	return e.sentences, true
}

// indexed drops the entry of a conversation once version is indexed, unless
// it holds a later version.
func (r *recentTranscripts) indexed(conversationID, version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[conversationID]; ok && e.version <= version {
		r.drop(conversationID, e)
	}
}
