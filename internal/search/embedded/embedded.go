// Package embedded is the search engine of the zero-setup dev default: a
// bleve index in a local directory, pure Go, with CJK bigrams and English
// stemming. It keeps one document per sentence plus one per conversation
// (its version and sentence count) and groups matches into conversations in
// memory, which suits a developer's data; production uses Elasticsearch.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sys/unix"

	"github.com/megaview/mgvcore/internal/coalesce"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/fsmode"
	"github.com/megaview/mgvcore/internal/search"
)

// MaxScan is how many matching sentences one search groups into
// conversations, in the order of their ids; matches beyond it are not
// counted in totals and facets.
const MaxScan = 10_000

const (
	textAnalyzer = "mgv_text"
	kindSentence = "s"
	kindConv     = "c"
)

// uniAnalyzer analyzes the text a second time into uniField, one token per
// Han character: a one-character Chinese word (贵 "expensive") is a
// unigram, which the bigrams of the text field hold only where the
// character stood alone (太贵了 is 太贵, 贵了), so a term holding one
// (search.HasLoneHan) is matched there, as the Elasticsearch engine
// matches it on sentences.text.uni. The bigrams stay the text field's
// tokens, so that 好用 does not match 很好，用户 across the comma.
const (
	uniAnalyzer = "mgv_uni"
	uniField    = "text_uni"
)

// Engine is a bleve index.
type Engine struct {
	dir string
	// mu orders writes: a write reads the versions it replaces.
	mu sync.Mutex

	// idx is nil while another process (the parent of an upgrade) holds
	// the index; it is opened as soon as that one lets go, and opened is
	// closed then. Every use of idx holds idxMu's read lock throughout, so
	// that Close waits for the searches and writes in progress.
	idxMu  sync.RWMutex
	idx    bleve.Index
	opened chan struct{}
	closed chan struct{}
	once   sync.Once
	// handoverWait is HandoverWait but in tests.
	handoverWait time.Duration
	// minFree is MinFreeBytes but in tests; free is FreeBytes but in
	// tests.
	minFree uint64
	free    func() (uint64, bool)

	// purger rewrites the index without its deleted documents (purge).
	purger *coalesce.Job

	// searching holds a slot for each search running (see Search).
	searching chan struct{}
	// tenants bound the slots one tenant's searches hold or wait for.
	tenants tenantSlots
}

var _ search.Engine = (*Engine)(nil)

// lockWait bounds each attempt to take the index's file lock.
const lockWait = 100 * time.Millisecond

// Open opens the index in dir, creating it when missing. When another
// process holds it, as the draining parent of an upgrade does, Open returns
// at once and the engine answers UNAVAILABLE until it gets the index.
func Open(dir string) (*Engine, error) {
	return open(dir, PurgeDelay, PurgeEvery, nil)
}

func open(dir string, purgeDelay, purgeEvery time.Duration, purged func(error)) (*Engine, error) {
	e := &Engine{dir: dir, opened: make(chan struct{}), closed: make(chan struct{}), handoverWait: HandoverWait, minFree: MinFreeBytes,
		searching: make(chan struct{}, searchesAtOnce()), tenants: tenantSlots{size: max(1, searchesAtOnce()/2), slots: map[int64]*tenantSlot{}}}
	e.free = e.FreeBytes
	e.purger = coalesce.New(coalesce.Options{
		Delay: purgeDelay,
		Gap:   func(took time.Duration) time.Duration { return max(purgeEvery, purgeShare*took) },
		Run:   e.purge,
		Ran:   purged,
	})
	err := e.open()
	switch {
	case err == nil:
	case isLockTimeout(err):
		go e.openLater()
	default:
		return nil, fmt.Errorf("search.path %s: %w", dir, err)
	}
	e.purger.Start()
	return e, nil
}

func isLockTimeout(err error) bool {
	return errors.Is(err, bolterrors.ErrTimeout) || strings.Contains(err.Error(), "timeout")
}

func (e *Engine) open() error {
	unmade, err := clearUnmade(e.dir)
	if err != nil {
		return err
	}
	var idx bleve.Index
	if unmade {
		err = bleve.ErrorIndexPathDoesNotExist
	} else {
		idx, err = bleve.OpenUsing(e.dir, map[string]any{"bolt_timeout": lockWait.String()})
	}
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		if err := fsmode.MkdirAll(e.dir); err != nil {
			return err
		}
		_ = os.Remove(e.dir) // bleve wants to create the directory itself
		var m *mapping.IndexMappingImpl
		if m, err = indexMapping(); err == nil {
			idx, err = bleve.New(e.dir, m)
		}
	}
	if err != nil {
		return err
	}
	// bleve writes index_meta.json 0666 (less the umask); everything else
	// it creates is 0600 / 0700 already.
	if _, err := fsmode.TightenTree(e.dir); err != nil {
		_ = idx.Close()
		return fmt.Errorf("cannot make the index private to this user: %w", err)
	}
	e.idxMu.Lock()
	select {
	case <-e.closed:
		// Closed while the lock was awaited: let the index go at once,
		// for the process that will use it.
		e.idxMu.Unlock()
		_ = idx.Close()
		return errClosing
	default:
	}
	e.idx = idx
	close(e.opened)
	e.idxMu.Unlock()
	if hasDeleted(idx) {
		// Text deleted before a stop (or a kill) that came before its
		// purge.
		e.purger.Ask()
	}
	return nil
}

// clearUnmade reports whether dir holds an index that was never made: an
// empty directory (created ahead of the first start), or one where bleve
// stopped (a full disk, a kill) after writing the metadata
// (index_meta.json, empty, partial or whole) and before creating the
// store, where documents live. Every open of such a directory fails
// ("metadata missing", "metadata corrupt"), and an open of whole metadata
// would leave a store without a mapping, so its metadata is removed and
// the index made anew. A directory holding anything else is left alone.
func clearUnmade(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, nil // missing: open makes it; unreadable: open says why
	}
	for _, d := range entries {
		if n := d.Name(); d.IsDir() || (n != "index_meta.json" && n != "index_meta.json_temp") {
			return false, nil
		}
	}
	for _, d := range entries {
		if err := os.Remove(filepath.Join(dir, d.Name())); err != nil {
			return false, fmt.Errorf("removing the metadata of an index that was never made: %w", err)
		}
	}
	return true, nil
}

func (e *Engine) openLater() {
	for {
		select {
		case <-e.closed:
			return
		case <-time.After(lockWait):
		}
		if err := e.open(); err == nil || !isLockTimeout(err) {
			return
		}
	}
}

// HandoverWait bounds how long a search or a write waits for the index
// that the parent of an upgrade still holds. The parent lets it go as soon
// as this process is ready (see app's searchDomain.stop), so the wait is
// about lockWait; past it the engine answers UNAVAILABLE.
const HandoverWait = 5 * time.Second

// use runs fn on the open index, holding it open meanwhile. While another
// process holds the index it waits for it, up to HandoverWait and ctx, and
// then answers UNAVAILABLE; a closed engine answers UNAVAILABLE at once.
func (e *Engine) use(ctx context.Context, fn func(bleve.Index) error) error {
	select {
	case <-e.opened:
	case <-e.closed:
	default:
		t := time.NewTimer(e.handoverWait)
		select {
		case <-e.opened:
		case <-e.closed:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return e.held(fn)
}

// held runs fn on the index if it is open, holding it open meanwhile, and
// answers UNAVAILABLE if it is not.
func (e *Engine) held(fn func(bleve.Index) error) error {
	e.idxMu.RLock()
	defer e.idxMu.RUnlock()
	if e.idx == nil {
		return errs.Unavailable("search index")
	}
	return fn(e.idx)
}

// indexMapping is version 2 of the embedded mapping: CJK bigrams (预算 is a
// word, 预计 another) and Porter stemming for English, as the Elasticsearch
// mapping does where its analysis module is installed, and the text once
// more one character at a time (uniField). An index keeps the mapping it
// was made with: one of version 1, without uniField, is searched as
// before (see uniOf) until its directory is removed and rebuilt.
func indexMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	err := m.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []any{cjk.WidthName, lowercase.Name, cjk.BigramName, porter.Name},
	})
	if err != nil {
		return nil, err
	}
	// The text's analysis without the bigrams, so that the Latin words
	// of a term holding a one-character word (买iPhones) stem alike.
	err = m.AddCustomAnalyzer(uniAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []any{cjk.WidthName, lowercase.Name, porter.Name},
	})
	if err != nil {
		return nil, err
	}
	m.TypeField = "kind"
	m.DefaultMapping.Enabled = false
	m.DefaultMapping.Dynamic = false
	m.StoreDynamic = false
	m.IndexDynamic = false

	num := func(store bool) *mapping.FieldMapping {
		f := bleve.NewNumericFieldMapping()
		f.Store, f.IncludeInAll, f.DocValues = store, false, false
		return f
	}
	kw := func(store bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer, f.Store, f.IncludeInAll = keyword.Name, store, false
		return f
	}
	text := bleve.NewTextFieldMapping()
	text.Analyzer, text.Store, text.IncludeTermVectors, text.IncludeInAll = textAnalyzer, true, true, false
	// Term vectors (positions) for phrases and the snippet's marks; the
	// text itself is stored once, in text.
	uni := bleve.NewTextFieldMapping()
	uni.Name, uni.Analyzer, uni.Store, uni.IncludeTermVectors, uni.IncludeInAll = uniField, uniAnalyzer, false, true, false

	s := bleve.NewDocumentStaticMapping()
	for name, f := range map[string]*mapping.FieldMapping{
		"kind": kw(false), "tenant_id": num(false), "conversation_id": num(true), "owner_user_id": num(true),
		"deal_id": num(false), "direction": kw(false), "begin_ms": num(true), "duration_ms": num(false),
		"affiliation": kw(false), "seq": num(true), "start_ms": num(true), "speaker_key": kw(true), "text": text,
	} {
		s.AddFieldMappingsAt(name, f)
	}
	s.AddFieldMappingsAt("text", uni)
	m.AddDocumentMapping(kindSentence, s)

	c := bleve.NewDocumentStaticMapping()
	c.AddFieldMappingsAt("kind", kw(false))
	c.AddFieldMappingsAt("version", num(true))
	c.AddFieldMappingsAt("sentences", num(true))
	m.AddDocumentMapping(kindConv, c)
	return m, nil
}

func convID(id int64) string              { return "c/" + strconv.FormatInt(id, 10) }
func sentenceID(id int64, seq int) string { return fmt.Sprintf("s/%d/%d", id, seq) }

// Close closes the index once the searches and writes in progress are
// done; those that come later answer UNAVAILABLE.
func (e *Engine) Close() error {
	e.once.Do(func() {
		e.purger.Stop() // a rewrite under way ends
		close(e.closed)
	})
	e.idxMu.Lock()
	defer e.idxMu.Unlock()
	if e.idx == nil {
		return nil
	}
	err := e.idx.Close()
	e.idx = nil
	return err
}

// Ping reads the document count; it answers UNAVAILABLE at once while
// another process holds the index.
func (e *Engine) Ping(context.Context) error {
	return e.held(func(idx bleve.Index) error {
		_, err := idx.DocCount()
		return err
	})
}

// FreeBytes is the space free to this process on the file system of the
// index; false when it cannot be read.
func (e *Engine) FreeBytes() (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(e.dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// MinFreeBytes is the free space the index's file system must have for a
// write to start (a purge needs the index's size on top): a batch, the
// segments the merger writes beside those it replaces, the snapshot's
// metadata.
const MinFreeBytes = 256 << 20

// roomToWrite refuses, as UNAVAILABLE (the indexer tries the job again
// later), a write when the file system of the index has less than
// e.minFree bytes free (mgv_search_index_free_bytes says how much is). Bleve does not survive running out of space in
// the middle of a write: a segment it failed to persist is left
// half-introduced, and the next read panics in a goroutine of its own,
// ending the process. A file system whose space cannot be read is let be.
func (e *Engine) roomToWrite() error {
	return e.roomFor(e.minFree)
}

// roomFor refuses, as roomToWrite does, when less than need bytes are free.
func (e *Engine) roomFor(need uint64) error {
	free, ok := e.free()
	if !ok {
		return nil
	}
	if free < need {
		return errs.New(http.StatusServiceUnavailable, errs.ReasonDependencyUnavailable,
			"search index: %d MiB free on %s, less than the %d MiB it needs; writes wait for space", free>>20, e.dir, need>>20).
			With("dependency", "search index")
	}
	return nil
}

// Write replaces or removes conversations. A Doc older than the indexed
// version is skipped: it lost a race with a newer write.
func (e *Engine) Write(ctx context.Context, ops []search.Op) ([]error, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.roomToWrite(); err != nil {
		return nil, err
	}
	if err := e.use(ctx, func(idx bleve.Index) error { return e.write(ctx, idx, ops) }); err != nil {
		return nil, err
	}
	return make([]error, len(ops)), nil
}

func (e *Engine) write(ctx context.Context, idx bleve.Index, ops []search.Op) error {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = convID(op.ConversationID)
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery(ids), len(ids), 0, false)
	req.Fields = []string{"version", "sentences"}
	res, err := idx.SearchInContext(ctx, req)
	if err != nil {
		return err
	}
	type meta struct{ version, sentences int64 }
	indexed := map[string]meta{}
	for _, h := range res.Hits {
		indexed[h.ID] = meta{version: num(h.Fields["version"]), sentences: num(h.Fields["sentences"])}
	}
	b := idx.NewBatch()
	deleted := false // text indexed before is replaced or removed
	for _, op := range ops {
		id := convID(op.ConversationID)
		old, had := indexed[id]
		if op.Doc != nil && had && old.version > op.Doc.Version {
			continue
		}
		if err := deleteSentences(ctx, idx, b, op.ConversationID, old.sentences); err != nil {
			return err
		}
		deleted = deleted || old.sentences > 0
		if op.Doc == nil {
			b.Delete(id)
			delete(indexed, id)
			continue
		}
		d := op.Doc
		for _, s := range d.Sentences {
			err := b.Index(sentenceID(d.ConversationID, s.Seq), map[string]any{
				"kind": kindSentence, "tenant_id": d.TenantID, "conversation_id": d.ConversationID,
				"owner_user_id": d.OwnerUserID, "deal_id": d.DealID, "direction": d.Direction,
				"begin_ms": d.BeginTime.UnixMilli(), "duration_ms": d.DurationMS, "affiliation": s.Affiliation,
				"seq": s.Seq, "start_ms": s.StartMS, "speaker_key": s.SpeakerKey, "text": s.Text,
			})
			if err != nil {
				return err
			}
		}
		// Sentence ids are by seq, so the count covers every id written.
		n := 0
		for _, s := range d.Sentences {
			n = max(n, s.Seq+1)
		}
		if err := b.Index(id, map[string]any{"kind": kindConv, "version": d.Version, "sentences": n}); err != nil {
			return err
		}
		indexed[id] = meta{version: d.Version, sentences: int64(n)}
	}
	if err := idx.Batch(b); err != nil {
		return err
	}
	if deleted {
		e.purger.Ask()
	}
	return nil
}

// deleteSentences adds to b the deletion of the sentences of conversation
// id, which spans seqs below n. A transcript's seqs may be sparse (0 and
// 2^31-1 are two sentences): past sparseSeqs, the ids are found by a
// search rather than deleted one per seq.
func deleteSentences(ctx context.Context, idx bleve.Index, b *bleve.Batch, id, n int64) error {
	if n <= sparseSeqs {
		for seq := range int(n) {
			b.Delete(sentenceID(id, seq))
		}
		return nil
	}
	q := bleve.NewConjunctionQuery(keywordQ("kind", kindSentence), numEq("conversation_id", id))
	res, err := idx.SearchInContext(ctx, bleve.NewSearchRequestOptions(q, 0, 0, false))
	if err != nil {
		return err
	}
	res, err = idx.SearchInContext(ctx, bleve.NewSearchRequestOptions(q, int(res.Total), 0, false))
	if err != nil {
		return err
	}
	for _, h := range res.Hits {
		b.Delete(h.ID)
	}
	return nil
}

// sparseSeqs is the span of seqs past which deleteSentences searches: a
// transcript holds fewer sentences than that.
const sparseSeqs = 1 << 16

// PurgeDelay is how long after a deletion the index is rewritten without
// the deleted documents (more deletions within it share the rewrite), and
// PurgeEvery the least time between two rewrites. A rewrite costs in
// proportion to the index, and any replaced transcript asks for one, so
// the time between two rewrites is also at least purgeShare times what
// the last one took: a steady trickle of updates to a large index keeps
// the rewrites to a tenth of one core.
const (
	PurgeDelay = 5 * time.Second
	PurgeEvery = time.Minute
	purgeShare = 10
)

// purgeID is the one document of kind "m": writing it gives the merger a
// second segment, so that a rewrite happens even where the deletions are
// all in one segment (bleve merges nothing out of a lone segment).
const purgeID = "m/purge"

// errClosing is what an open or a rewrite that the engine's Close cut
// short returns.
var errClosing = errors.New("search index closing")

// purge rewrites the index without its deleted documents (purger):
// PurgeDelay after a deletion, at most once every PurgeEvery. bleve only
// marks a replaced or deleted document as deleted in its segment, whose
// file keeps the text (and the names, numbers and words in it) until that
// segment is merged, which for the last segment of a quiet index is never:
// a conversation deleted, erased or past its retention would stay on disk.
// It merges every segment into one, which leaves the deleted documents
// out, and waits for the merge; ctx ends when the engine closes.
func (e *Engine) purge(ctx context.Context) error {
	e.idxMu.RLock()
	defer e.idxMu.RUnlock()
	if e.idx == nil { // another process holds it still: tried again
		return errs.Unavailable("search index")
	}
	// A full merge writes a copy of the live index beside the segments it
	// replaces: it needs the index's size free on top of what writes keep.
	size, err := dirSize(e.dir)
	if err != nil {
		return err
	}
	need := e.minFree + uint64(size)
	if need < e.minFree {
		need = math.MaxUint64
	}
	if err := e.roomFor(need); err != nil {
		return err
	}
	adv, err := e.idx.Advanced()
	if err != nil {
		return err
	}
	sc, ok := adv.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("search index: %T cannot be merged", adv)
	}
	if err := e.idx.Index(purgeID, map[string]any{"kind": "m", "at": time.Now().UnixNano()}); err != nil {
		return err
	}
	// The merger merges only segments already on disk: until the
	// persister has written the marker's, a merge may find one segment
	// and do nothing. So merge until no segment holds a deleted document.
	deadline := time.Now().Add(purgeSettle)
	for {
		if err := sc.ForceMerge(ctx, nil); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return errClosing
		}
		if !segmentsHoldDeleted(sc) {
			// bleve removes the files of merged segments when its
			// persister next waits for work, and leaves those still read
			// then: a write of an internal value (no document) wakes it
			// once more.
			return e.idx.SetInternal([]byte(purgedKey), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("search index: deleted documents remain %s after a rewrite began", purgeSettle)
		}
		select {
		case <-ctx.Done():
			return errClosing
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// purgedKey is the internal value that holds the time of the last rewrite.
const purgedKey = "mgv_purged_at"

// purgeSettle bounds one rewrite's wait for the merges to take every
// deleted document (writes meanwhile may delete more).
const purgeSettle = 10 * time.Second

// hasDeleted reports whether a segment of idx holds deleted documents.
func hasDeleted(idx bleve.Index) bool {
	adv, err := idx.Advanced()
	if err != nil {
		return false
	}
	return segmentsHoldDeleted(adv)
}

// segmentsHoldDeleted reports whether a segment of adv holds deleted
// documents.
func segmentsHoldDeleted(adv index.Index) bool {
	r, err := adv.Reader()
	if err != nil {
		return false
	}
	defer func() { _ = r.Close() }()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return false
	}
	for _, seg := range snap.Segments() {
		if d := seg.Deleted(); d != nil && !d.IsEmpty() {
			return true
		}
	}
	return false
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

type group struct {
	id, owner, beginMS int64
	score              float64
	best               []sentenceHit
}

// sentenceHit is a matching sentence of a group: what ranks it among
// the group's, and its seq, which with the group's id names it. Its text,
// speaker and start are read only for the sentences of the page.
type sentenceHit struct {
	score float64
	seq   int
}

// searchesAtOnce is how many searches one engine runs at once: one per
// core the process may use. A search is work for one core from start to
// end (the index is mapped in memory), so more at once would finish no
// sooner, and each would hold its memory the longer (48 searches of
// MaxScan sentences at once on 2 cores held 2 GB of heap, 2 at a time
// 100 MB). The others wait their turn, in order, within their request's
// deadline.
func searchesAtOnce() int { return runtime.GOMAXPROCS(0) }

// Search groups the best MaxScan matching sentences by conversation. It
// waits for one of searchesAtOnce slots first; a request whose deadline
// passes meanwhile is answered 429 OVER_CAPACITY with a retry hint, one
// whose caller leaves as a search cut short then is (see searchError).
func (e *Engine) Search(ctx context.Context, q search.Query) (search.Result, error) {
	var res search.Result
	leave, err := e.tenants.enter(ctx, q.TenantID)
	if err != nil {
		return res, err
	}
	defer leave()
	if err := wait(ctx, e.searching); err != nil {
		return res, err
	}
	defer func() { <-e.searching }()
	err = e.use(ctx, func(idx bleve.Index) error {
		var err error
		res, err = e.search(ctx, idx, q)
		return err
	})
	return res, err
}

// wait takes a place in places while ctx lasts. A deadline that passes
// meanwhile is 429 OVER_CAPACITY with a retry hint: the engine is busy,
// not failing, and no breaker counts it against the operation (a 504
// would, and one tenant's queue of searches would open it for every
// tenant).
func wait(ctx context.Context, places chan struct{}) error {
	select {
	case places <- struct{}{}: // a free place first, whatever ctx says
		return nil
	default:
	}
	select {
	case places <- struct{}{}:
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errs.Of(errs.ReasonOverCapacity, "the search engine is running as many searches as it has cores, and this one's deadline passed while it waited; retry shortly").
				With("retry_after_seconds", "1")
		}
		return searchError(ctx.Err())
	}
}

// tenantSlots bound the engine's slots each tenant's searches hold or
// wait for, to half of them (at least one): one tenant's queue of searches
// waits in a line of its own, and another tenant's search finds a slot
// that the first cannot take (policy.Heavy bounds a tenant's searches at
// once, but the engine's few slots are shared by every tenant).
type tenantSlots struct {
	size  int
	mu    sync.Mutex
	slots map[int64]*tenantSlot
}

// tenantSlot is one tenant's places; refs counts its searches holding or
// waiting for one, and the slot is dropped at zero.
type tenantSlot struct {
	places chan struct{}
	refs   int
}

// enter takes one of tenant's places, waiting while ctx lasts (see wait);
// call leave when the search ends.
func (t *tenantSlots) enter(ctx context.Context, tenant int64) (leave func(), err error) {
	t.mu.Lock()
	s := t.slots[tenant]
	if s == nil {
		s = &tenantSlot{places: make(chan struct{}, t.size)}
		t.slots[tenant] = s
	}
	s.refs++
	t.mu.Unlock()
	drop := func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if s.refs--; s.refs == 0 {
			delete(t.slots, tenant)
		}
	}
	if err := wait(ctx, s.places); err != nil {
		drop()
		return nil, err
	}
	return func() { <-s.places; drop() }, nil
}

// search runs in two phases, so that the text and fields it holds are
// those of the page, not of MaxScan sentences: it ranks every matching
// sentence, keeping of each only its score and seq (see scan), and then
// reads the speaker, start and marked text of the best sentences of the
// page's conversations alone (snippets).
func (e *Engine) search(ctx context.Context, idx bleve.Index, q search.Query) (search.Result, error) {
	var res search.Result
	uni := uniOf(idx)
	bq, ok := e.query(q, uni != nil)
	if !ok {
		return res, nil
	}
	ids, err := matching(ctx, idx, bq)
	if err != nil {
		return res, err
	}
	groups, err := scan(ctx, idx, ids, newScorer(idx.Mapping().AnalyzerNamed(textAnalyzer), uni, q.Terms))
	if err != nil {
		return res, err
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].score != groups[j].score {
			return groups[i].score > groups[j].score
		}
		return groups[i].id < groups[j].id
	})
	res.Total = int64(len(groups))
	res.Owners, res.Days = facets(groups, q.Location)

	start := 0
	if a := q.After; a != nil {
		start = sort.Search(len(groups), func(i int) bool {
			g := groups[i]
			return g.score < a.Score || (g.score == a.Score && g.id > a.ID)
		})
	}
	end := min(start+q.Size, len(groups))
	page := groups[start:end]
	if end < len(groups) && len(page) > 0 {
		last := page[len(page)-1]
		res.Next = &search.Cursor{Score: last.score, ID: last.id}
	}
	snippets, err := e.snippets(ctx, idx, q, page)
	if err != nil {
		return res, err
	}
	for _, g := range page {
		hit := search.Hit{ConversationID: g.id, Score: g.score}
		for _, s := range g.best {
			if sn, ok := snippets[sentenceID(g.id, s.seq)]; ok {
				sn.Seq = s.seq
				hit.Snippets = append(hit.Snippets, sn)
			}
		}
		res.Hits = append(res.Hits, hit)
	}
	return res, nil
}

// matching are the ids of the first MaxScan sentences bq matches, in
// their order. bleve's own scores are TF-IDF over the whole index, every
// tenant's sentences: they are not computed, and each sentence is scored
// by scan from its own text (see scorer). No stored field is asked for,
// so bleve reads none.
func matching(ctx context.Context, idx bleve.Index, bq query.Query) ([]string, error) {
	req := bleve.NewSearchRequestOptions(bq, MaxScan, 0, false)
	req.Score = bleve.ScoreNone
	req.SortBy([]string{"_id"})
	sr, err := idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, searchError(err)
	}
	ids := make([]string, len(sr.Hits))
	for i, h := range sr.Hits {
		ids[i] = h.ID
	}
	return ids, nil
}

// scan scores the sentences ids name and groups them by
// conversation. It reads each one's stored fields straight from the
// segment holding it, one sentence at a time, and keeps its score and
// seq: bleve's Fields would look each id up anew in every segment and
// hold every text, map and field of the MaxScan sentences until the
// search returns. A sentence deleted since the ids were read is left
// out, as if it had gone before.
func scan(ctx context.Context, idx bleve.Index, ids []string, sc scorer) ([]*group, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	adv, err := idx.Advanced()
	if err != nil {
		return nil, errs.Internal(err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, errs.Internal(err)
	}
	defer func() { _ = r.Close() }()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil, errs.Internal(fmt.Errorf("search index: %T cannot be read by document number", r))
	}
	byID := map[int64]*group{}
	var groups []*group
	var s storedSentence
	read := 0
	for _, seg := range snap.Segments() {
		nums, err := seg.DocNumbers(ids)
		if err != nil {
			return nil, errs.Internal(err)
		}
		for it := nums.Iterator(); it.HasNext(); {
			if read++; read%scanCheck == 0 && ctx.Err() != nil {
				return nil, searchError(ctx.Err())
			}
			s = storedSentence{}
			// The visitor goes through every field: zapx hands its buffer
			// back to its pool twice when one stops at _id.
			if err := seg.VisitDocument(uint64(it.Next()), s.visit); err != nil {
				return nil, errs.Internal(err)
			}
			id, seq, ok := parseSentenceID(s.id)
			if !ok {
				continue
			}
			score := sc.score(s.text)
			g := byID[id]
			if g == nil {
				g = &group{id: id, owner: s.owner, beginMS: s.beginMS, score: score}
				byID[id] = g
				groups = append(groups, g)
			}
			g.score = max(g.score, score)
			g.best = append(g.best, sentenceHit{score: score, seq: seq})
		}
	}
	return groups, nil
}

// scanCheck is how many sentences scan reads between two looks at its
// request's context.
const scanCheck = 256

// storedSentence is what scan reads of a sentence's stored fields.
type storedSentence struct {
	id, text       string
	owner, beginMS int64
}

func (s *storedSentence) visit(name string, _ byte, val []byte, _ []uint64) bool {
	switch name {
	case "_id":
		s.id = string(val)
	case "text":
		s.text = string(val)
	case "owner_user_id":
		s.owner = storedNum(val)
	case "begin_ms":
		s.beginMS = storedNum(val)
	}
	return true
}

// storedNum is the value of a stored numeric field, as bleve's
// NumericField decodes it.
func storedNum(val []byte) int64 {
	i, err := numeric.PrefixCoded(val).Int64()
	if err != nil {
		return 0
	}
	return int64(numeric.Int64ToFloat64(i))
}

// parseSentenceID is the conversation and seq of a sentenceID.
func parseSentenceID(docID string) (id int64, seq int, ok bool) {
	rest, found := strings.CutPrefix(docID, kindSentence+"/")
	if !found {
		return 0, 0, false
	}
	c, q, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	id, err := strconv.ParseInt(c, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	seq, err = strconv.Atoi(q)
	return id, seq, err == nil
}

// snippets are the best sentences of each conversation of the page, by
// sentenceID: their speaker, start and text marked from the term
// locations of a second search restricted to them (Seq is left to the
// caller).
func (e *Engine) snippets(ctx context.Context, idx bleve.Index, q search.Query, page []*group) (map[string]search.Snippet, error) {
	var ids []string
	for _, g := range page {
		sort.SliceStable(g.best, func(i, j int) bool {
			if g.best[i].score != g.best[j].score {
				return g.best[i].score > g.best[j].score
			}
			return g.best[i].seq < g.best[j].seq
		})
		g.best = g.best[:min(len(g.best), search.MaxSnippets)]
		for _, s := range g.best {
			ids = append(ids, sentenceID(g.id, s.seq))
		}
	}
	out := map[string]search.Snippet{}
	if len(ids) == 0 {
		return out, nil
	}
	req := bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(bleve.NewDocIDQuery(ids), termsQuery(q.Terms, uniOf(idx) != nil)), len(ids), 0, false)
	req.Fields = []string{"text", "start_ms", "speaker_key"}
	req.IncludeLocations = true
	sr, err := idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, searchError(err)
	}
	for _, h := range sr.Hits {
		text, _ := h.Fields["text"].(string)
		speaker, _ := h.Fields["speaker_key"].(string)
		var ranges [][2]int
		for _, field := range []string{"text", uniField} {
			for _, locs := range h.Locations[field] {
				for _, l := range locs {
					ranges = append(ranges, [2]int{int(l.Start), int(l.End)})
				}
			}
		}
		out[h.ID] = search.Snippet{StartMS: num(h.Fields["start_ms"]), SpeakerKey: speaker, Text: search.Mark(text, ranges)}
	}
	return out, nil
}

// uniOf is the analyzer of uniField, nil for an index made before it.
func uniOf(idx bleve.Index) analysis.Analyzer {
	return idx.Mapping().AnalyzerNamed(uniAnalyzer)
}

// scorer scores a matching sentence as the Elasticsearch engine does
// (package search's Norm and TermWeight), from the sentence's text and the
// query alone: each term's occurrences are counted on the sentence's
// tokens, as the index analyzes them for the field the term matches on
// (uniField for a term holding a one-character word, when the index has
// it).
type scorer struct {
	text, uni analysis.Analyzer
	phrases   []phrase
}

// phrase is a term's tokens, and whether they are uniField's.
type phrase struct {
	tokens []string
	uni    bool
}

func newScorer(text, uni analysis.Analyzer, terms []search.Term) scorer {
	sc := scorer{text: text, uni: uni}
	for _, t := range terms {
		p := phrase{uni: uni != nil && search.HasLoneHan(t.Text)}
		p.tokens = tokens(sc.analyzer(p.uni), t.Text)
		sc.phrases = append(sc.phrases, p)
	}
	return sc
}

func (sc scorer) analyzer(uni bool) analysis.Analyzer {
	if uni {
		return sc.uni
	}
	return sc.text
}

// tokens are the terms a makes of text by position; a position without a
// token is "".
func tokens(a analysis.Analyzer, text string) []string {
	stream := a.Analyze([]byte(text))
	n := 0
	for _, tok := range stream {
		n = max(n, tok.Position)
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for _, tok := range stream {
		if p := tok.Position - 1; p >= 0 {
			out[p] = string(tok.Term)
		}
	}
	return out
}

func (sc scorer) score(text string) float64 {
	sum := 0.0
	for _, n := range sc.counts(text) {
		// The sentence matched every phrase: one occurrence at least,
		// should the count here find none.
		sum += search.TermWeight(max(1, n))
	}
	return search.Norm(text) * sum
}

// counts are the occurrences of each phrase in text, on the tokens of
// the field it matches on.
func (sc scorer) counts(text string) []int {
	var byField [2][]string // the text's tokens, and its uniField's
	out := make([]int, len(sc.phrases))
	for i, p := range sc.phrases {
		f := 0
		if p.uni {
			f = 1
		}
		if byField[f] == nil {
			byField[f] = tokens(sc.analyzer(p.uni), text)
		}
		out[i] = occurrences(byField[f], p.tokens)
	}
	return out
}

// Matcher tells whether a text holds every term of a query as this engine
// matches them, without an index: the transcript's q marks its sentences
// with it, as search matches them (PRODUCT §5). English words match whole
// and by stem, a Chinese word where its characters stand together (and
// never across punctuation: 好用 is not in 很好，用户), a one-character one
// wherever its character stands (a term holding one is matched a
// character at a time as a whole, so the rest of that term may match
// across punctuation), a number whole (3 is not in 3.5%).
type Matcher struct{ sc scorer }

// analyzers are the text and uniField analyzers of a new index, made once
// for every Matcher.
var analyzers = sync.OnceValues(func() (scorer, error) {
	m, err := indexMapping()
	if err != nil {
		return scorer{}, err
	}
	sc := scorer{text: m.AnalyzerNamed(textAnalyzer), uni: m.AnalyzerNamed(uniAnalyzer)}
	if sc.text == nil || sc.uni == nil {
		return scorer{}, errors.New("search: the embedded analyzers cannot be built")
	}
	return sc, nil
})

// NewMatcher matches terms; a term that leaves no token is left out,
// and Len counts those kept.
func NewMatcher(terms []search.Term) (*Matcher, error) {
	a, err := analyzers()
	if err != nil {
		return nil, err
	}
	m := &Matcher{sc: scorer{text: a.text, uni: a.uni}}
	for _, p := range newScorer(a.text, a.uni, foldTerms(terms)).phrases {
		if len(p.tokens) > 0 {
			m.sc.phrases = append(m.sc.phrases, p)
		}
	}
	return m, nil
}

// Len is how many terms m matches.
func (m *Matcher) Len() int { return len(m.sc.phrases) }

// Matches reports whether text holds every term.
func (m *Matcher) Matches(text string) bool {
	return !slices.Contains(m.sc.counts(foldWidth(text)), 0)
}

// foldWidth maps full-width ASCII (Ｐｒｉｃｅ, １２０) to ASCII, as the
// production analysis (Elasticsearch's cjk_width) does before it
// tokenizes: bleve's tokenizer drops full-width digits, which a mark would
// then miss where search finds them.
func foldWidth(text string) string {
	return strings.Map(func(r rune) rune {
		if r >= '！' && r <= '～' {
			r -= '！' - '!'
		}
		return r
	}, text)
}

func foldTerms(terms []search.Term) []search.Term {
	out := make([]search.Term, len(terms))
	for i, t := range terms {
		out[i] = search.Term{Text: foldWidth(t.Text), Phrase: t.Phrase}
	}
	return out
}

// occurrences counts the places of phrase in tokens that do not overlap.
func occurrences(tokens, phrase []string) int {
	if len(phrase) == 0 {
		return 0
	}
	n := 0
	for i := 0; i+len(phrase) <= len(tokens); {
		if slices.Equal(tokens[i:i+len(phrase)], phrase) {
			n++
			i += len(phrase)
			continue
		}
		i++
	}
	return n
}

func facets(groups []*group, loc *time.Location) ([]search.OwnerCount, []search.DayCount) {
	if loc == nil {
		loc = time.UTC
	}
	owners := map[int64]int64{}
	days := map[string]int64{}
	for _, g := range groups {
		owners[g.owner]++
		days[time.UnixMilli(g.beginMS).In(loc).Format(time.DateOnly)]++
	}
	var oc []search.OwnerCount
	for id, n := range owners {
		oc = append(oc, search.OwnerCount{OwnerUserID: id, Conversations: n})
	}
	sort.Slice(oc, func(i, j int) bool {
		if oc[i].Conversations != oc[j].Conversations {
			return oc[i].Conversations > oc[j].Conversations
		}
		return oc[i].OwnerUserID < oc[j].OwnerUserID
	})
	if len(oc) > search.MaxOwnerFacets {
		oc = oc[:search.MaxOwnerFacets]
	}
	var dc []search.DayCount
	for d, n := range days {
		dc = append(dc, search.DayCount{Day: d, Conversations: n})
	}
	sort.Slice(dc, func(i, j int) bool { return dc[i].Day < dc[j].Day })
	return oc, dc
}

// termsQuery matches every term as a phrase; hasUni: the index has
// uniField, where a term holding a one-character word is matched (it
// finds every sentence the text field would).
func termsQuery(terms []search.Term, hasUni bool) query.Query {
	qs := make([]query.Query, len(terms))
	for i, t := range terms {
		p := bleve.NewMatchPhraseQuery(t.Text)
		p.SetField("text")
		p.Analyzer = textAnalyzer
		if hasUni && search.HasLoneHan(t.Text) {
			p.SetField(uniField)
			p.Analyzer = uniAnalyzer
		}
		qs[i] = p
	}
	return bleve.NewConjunctionQuery(qs...)
}

// query is the sentence query of q; ok is false when q can match nothing.
func (e *Engine) query(q search.Query, hasUni bool) (query.Query, bool) {
	if (q.Owners != nil && len(q.Owners) == 0) || (q.Conversations != nil && len(q.Conversations) == 0) {
		return nil, false
	}
	qs := []query.Query{termsQuery(q.Terms, hasUni), keywordQ("kind", kindSentence), numEq("tenant_id", q.TenantID)}
	if q.Owners != nil {
		qs = append(qs, numIn("owner_user_id", q.Owners))
	}
	if len(q.OwnerIDs) > 0 {
		qs = append(qs, numIn("owner_user_id", q.OwnerIDs))
	}
	if q.Conversations != nil {
		qs = append(qs, numIn("conversation_id", q.Conversations))
	}
	if q.DealID != 0 {
		qs = append(qs, numEq("deal_id", q.DealID))
	}
	if q.Direction != "" {
		qs = append(qs, keywordQ("direction", q.Direction))
	}
	if sides := q.Affiliations(); len(sides) > 0 {
		either := make([]query.Query, len(sides))
		for i, side := range sides {
			either[i] = keywordQ("affiliation", side)
		}
		qs = append(qs, bleve.NewDisjunctionQuery(either...))
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		var lo, hi *float64
		if !q.From.IsZero() {
			v := float64(q.From.UnixMilli())
			lo = &v
		}
		if !q.To.IsZero() {
			v := float64(q.To.UnixMilli())
			hi = &v
		}
		qs = append(qs, numRange("begin_ms", lo, hi, true, false))
	}
	if q.MinDurationMS != nil || q.MaxDurationMS != nil {
		var lo, hi *float64
		if q.MinDurationMS != nil {
			v := float64(*q.MinDurationMS)
			lo = &v
		}
		if q.MaxDurationMS != nil {
			v := float64(*q.MaxDurationMS)
			hi = &v
		}
		qs = append(qs, numRange("duration_ms", lo, hi, true, true))
	}
	return bleve.NewConjunctionQuery(qs...), true
}

// searchError is a failed search's answer: a request whose deadline
// passed, or whose caller left, while bleve read is that (504, 499), not
// an internal error, which an operator would be paged for.
func searchError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return errs.From(err)
	}
	return errs.Internal(err)
}

func keywordQ(field, v string) query.Query {
	t := bleve.NewTermQuery(v)
	t.SetField(field)
	return t
}

func numRange(field string, lo, hi *float64, loIncl, hiIncl bool) query.Query {
	r := bleve.NewNumericRangeInclusiveQuery(lo, hi, &loIncl, &hiIncl)
	r.SetField(field)
	return r
}

func numEq(field string, v int64) query.Query {
	f := float64(v)
	return numRange(field, &f, &f, true, true)
}

func numIn(field string, vs []int64) query.Query {
	vs = slices.Compact(slices.Sorted(slices.Values(vs)))
	qs := make([]query.Query, len(vs))
	for i, v := range vs {
		qs[i] = numEq(field, v)
	}
	return bleve.NewDisjunctionQuery(qs...)
}
