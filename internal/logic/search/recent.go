package search

import (
	"sync"
	"time"
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
//
// The entries are copies of people's words, so none outlives its use:
//   - each lives at most ttl after it was put (the commit it follows), then
//     it is dropped (expire, run by the indexer's sweep; a lookup never
//     answers with an expired one either). This holds with no database and
//     whatever the other instances do;
//   - an entry whose conversation was deleted, or whose transcript was
//     written again, anywhere in the fleet goes at the sweep that finds it
//     (forget): see Indexer.sweep.
//
// The indexer takes a committed transcript within its poll interval (at
// once when it is idle), so a ttl of some seconds (15 s by default) keeps
// the entries it reuses; one past its ttl is read from the database.
type recentTranscripts struct {
	mu      sync.Mutex
	limit   int
	ttl     time.Duration
	now     func() time.Time
	bytes   int
	seq     uint64
	entries map[int64]recentTranscript
	tenants map[int64]*recentUse
	// order is the entries oldest first, by conversation id and the seq
	// of the put; a position whose entry was replaced or dropped since is
	// skipped. Every entry has the same ttl, so order is also the order in
	// which they expire.
	order []recentPut
}

type recentTranscript struct {
	tenantID  int64
	version   int64
	sentences []model.Sentence
	bytes     int
	seq       uint64
	expires   time.Time
}

// recentUse is what a tenant has kept: the operators' gauges.
type recentUse struct{ entries, bytes int }

type recentPut struct {
	conversationID int64
	seq            uint64
}

// sentenceOverhead is what a kept sentence costs besides its strings.
const sentenceOverhead = int(unsafe.Sizeof(model.Sentence{}))

func newRecentTranscripts(limit int, ttl time.Duration) *recentTranscripts {
	return &recentTranscripts{limit: limit, ttl: ttl, now: time.Now,
		entries: map[int64]recentTranscript{}, tenants: map[int64]*recentUse{}}
}

// put keeps the sentences of a conversation's committed transcript
// version, replacing an older version's; sentences must not change after.
func (r *recentTranscripts) put(tenantID, conversationID, version int64, sentences []model.Sentence) {
	size := 0
	for _, s := range sentences {
		size += sentenceOverhead + len(s.SpeakerKey) + len(s.Text)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.expireLocked(now)
	old, ok := r.entries[conversationID]
	if ok && old.version >= version {
		return // a later write committed first
	}
	if ok {
		r.drop(conversationID, old)
	}
	if size > r.limit || r.ttl <= 0 {
		return
	}
	r.seq++
	r.entries[conversationID] = recentTranscript{tenantID: tenantID, version: version, sentences: sentences,
		bytes: size, seq: r.seq, expires: now.Add(r.ttl)}
	r.order = append(r.order, recentPut{conversationID, r.seq})
	r.bytes += size
	use := r.tenants[tenantID]
	if use == nil {
		use = &recentUse{}
		r.tenants[tenantID] = use
	}
	use.entries++
	use.bytes += size
	for r.bytes > r.limit && len(r.order) > 0 {
		p := r.order[0]
		r.order = r.order[1:]
		if e, ok := r.live(p); ok {
			r.drop(p.conversationID, e)
		}
	}
	r.compact()
}

// compact forgets the positions of order whose entries are gone, once
// they are most of it.
func (r *recentTranscripts) compact() {
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
	if use := r.tenants[e.tenantID]; use != nil {
		use.entries--
		use.bytes -= e.bytes
		if use.entries <= 0 {
			delete(r.tenants, e.tenantID)
		}
	}
}

// get returns the sentences of version, if kept and not expired.
func (r *recentTranscripts) get(conversationID, version int64) ([]model.Sentence, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[conversationID]
	if !ok || e.version != version || !r.now().Before(e.expires) {
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

// expire drops the entries whose ttl has run out.
func (r *recentTranscripts) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(r.now())
}

func (r *recentTranscripts) expireLocked(now time.Time) {
	for len(r.order) > 0 {
		p := r.order[0]
		e, ok := r.live(p)
		if ok && now.Before(e.expires) {
			return
		}
		r.order = r.order[1:]
		if ok {
			r.drop(p.conversationID, e)
		}
	}
}

// held returns the transcript version kept for each conversation.
func (r *recentTranscripts) held() map[int64]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int64]int64, len(r.entries))
	for id, e := range r.entries {
		out[id] = e.version
	}
	return out
}

// forget drops the entries of conversations that no longer exist or whose
// transcript moved on: current is the transcript version of each
// conversation that exists, as the database has it now. An entry put
// since (a later version than current's) stays.
func (r *recentTranscripts) forget(ids []int64, current map[int64]int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		e, ok := r.entries[id]
		if !ok {
			continue
		}
		v, exists := current[id]
		if !exists || e.version < v {
			r.drop(id, e)
			n++
		}
	}
	r.compact()
	return n
}

// usage returns what each tenant keeps.
func (r *recentTranscripts) usage() map[int64]recentUse {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int64]recentUse, len(r.tenants))
	for id, u := range r.tenants {
		out[id] = *u
	}
	return out
}

// clear drops every entry: the indexer stopped and takes none any more.
func (r *recentTranscripts) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.entries)
	clear(r.tenants)
	r.order, r.bytes = nil, 0
}
