// Package elastic is the Elasticsearch 7 search engine (olivere/elastic v7).
// The index is versioned behind an alias: writes and searches go to the
// alias, `mgvcore reindex` builds "<alias>_v<N>_<time>" beside it and swaps.
//
// OpenSearch 2 answers the same requests: the client needs no option of
// its own there (its health check and sniffing work, it checks no version
// or product header). What OpenSearch 2 refuses are mapping types: the
// client's GetMapping service always asks for /{index}/_mapping/{type}, and
// include_type_name is gone, so this package sends only typeless requests.
package elastic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// Documents are encoded for every index write; encoding/json took
	// several times as long on them.
	json "github.com/goccy/go-json"
	olivere "github.com/olivere/elastic/v7"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/search"
)

// Dependency is the name of Elasticsearch in errors and health checks.
const Dependency = "elasticsearch"

// Options name and shape the index.
type Options struct {
	// Alias is the stable name searched and written, e.g. mgv_conversations.
	Alias           string
	Shards          int
	Replicas        int
	RefreshInterval time.Duration
	// BulkBytes bounds the body of one bulk request (0: DefaultBulkBytes);
	// a document larger than that is sent alone.
	BulkBytes int
	// Log is told when the alias names an index of an older mapping
	// version.
	Log zerolog.Logger
}

// Engine searches and writes the alias.
type Engine struct {
	c *olivere.Client
	o Options

	// version matches the names of the alias's versions (versions).
	version *regexp.Regexp

	mu      sync.Mutex
	ensured bool
	// noRequireAlias is set once the cluster refused require_alias (older
	// than 7.10).
	noRequireAlias atomic.Bool
}

// errIndexGone marks a write refused because the alias names no index:
// someone deleted the live index (and the alias with it).
var errIndexGone = errors.New("the search index behind the alias is gone")

// lost forgets that the alias exists, after a write or a search found it
// gone, so that the next call creates an empty index behind it (ensure),
// and says loudly what is missing until `mgvcore reindex` runs.
func (e *Engine) lost(ctx context.Context) {
	e.mu.Lock()
	was := e.ensured
	e.ensured = false
	e.mu.Unlock()
	if was {
		e.o.Log.Error().Str("alias", e.o.Alias).Msg("the search index behind the alias was deleted: an empty one is created in its place, and conversations written before are not searchable until `mgvcore reindex` runs")
	}
	if err := e.ensure(ctx); err != nil {
		e.o.Log.Warn().Err(err).Str("alias", e.o.Alias).Msg("creating the search index again")
	}
}

// unknownRequireAlias reports whether err is a cluster's refusal of the
// require_alias parameter it does not know (Elasticsearch before 7.10).
func unknownRequireAlias(err error) bool {
	var oe *olivere.Error
	return errors.As(err, &oe) && oe.Status == http.StatusBadRequest && oe.Details != nil &&
		strings.Contains(oe.Details.Reason, "require_alias")
}

var (
	_ search.Engine    = (*Engine)(nil)
	_ search.Refresher = (*Engine)(nil)
)

// New uses c, which the caller owns.
func New(c *olivere.Client, o Options) *Engine {
	return &Engine{c: c, o: o, version: regexp.MustCompile(`^` + regexp.QuoteMeta(o.Alias) + `_v[0-9]+(_[0-9]{8}t[0-9]{6})?$`)}
}

// Client is the underlying client (reindex, benchmarks).
func (e *Engine) Client() *olivere.Client { return e.c }

// Alias is the searched name.
func (e *Engine) Alias() string { return e.o.Alias }

// Close does nothing: the client belongs to the caller.
func (e *Engine) Close() error { return nil }

// Ping checks that the cluster answers and the alias exists.
func (e *Engine) Ping(ctx context.Context) error { return e.ensure(ctx) }

// ensure creates the first index with the alias when the alias does not
// exist yet. Two instances may race: the index name is fixed, so one
// creates it and the other finds it.
func (e *Engine) ensure(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ensured {
		return nil
	}
	indices, err := e.aliasIndices(ctx)
	if err != nil {
		return err
	}
	if len(indices) == 0 {
		profile, err := detectProfile(ctx, e.c)
		if err != nil {
			return mapError(err)
		}
		body := indexBody(e.o, profile, false)
		body["aliases"] = map[string]any{e.o.Alias: map[string]any{}}
		name := fmt.Sprintf("%s_v%d", e.o.Alias, MappingVersion)
		_, err = e.c.CreateIndex(name).BodyJson(body).Do(ctx)
		if err != nil && !olivere.IsStatusCode(err, http.StatusBadRequest) {
			return mapError(err)
		}
		if err != nil {
			// resource_already_exists: another instance won the race.
			if indices, err2 := e.aliasIndices(ctx); err2 != nil || len(indices) == 0 {
				return mapError(err)
			}
		}
	}
	if err := e.upgradeOlder(ctx, indices); err != nil {
		return err
	}
	e.ensured = true
	return nil
}

// upgradeOlder lets this version write to indices of an older mapping
// version behind the alias, until `mgvcore reindex` replaces them: their
// mapping is strict, so it gets the fields added since (sentences.norm;
// adding a field is allowed, changing a similarity or an index's analyzers
// is not). They serve meanwhile with what their version lacks, hence the
// warning (see olderLacks).
func (e *Engine) upgradeOlder(ctx context.Context, indices []string) error {
	for _, name := range indices {
		v := versionOf(e.o.Alias, name)
		if v >= MappingVersion {
			continue
		}
		_, err := e.c.PutMapping().Index(name).BodyJson(map[string]any{"properties": map[string]any{
			"sentences": map[string]any{"type": "nested", "properties": map[string]any{"norm": normField}},
		}}).Do(ctx)
		if err != nil {
			return mapError(err)
		}
		e.o.Log.Warn().Str("index", name).Int("mapping_version", v).Int("current_version", MappingVersion).
			Msg("the search index is of an older mapping version, " + olderLacks(v) + ": run `mgvcore reindex`")
	}
	return nil
}

// olderLacks says what an index of mapping version v does not do yet. An
// index of version 2 or older has no one-character subfield: the search
// of a one-character Chinese word runs on it without error, and finds it
// only where the character stood alone (the main field's unigrams).
func olderLacks(v int) string {
	if v < 2 {
		return "whose scores depend on every tenant's transcripts and whose bigram analysis, if it has it, finds no one-character Chinese word"
	}
	return "whose bigram analysis, if it has it, finds no one-character Chinese word (贵 in 太贵了)"
}

// aliasIndices lists the indices behind the alias.
func (e *Engine) aliasIndices(ctx context.Context) ([]string, error) {
	res, err := e.c.PerformRequest(ctx, olivere.PerformRequestOptions{
		Method: http.MethodGet, Path: "/_alias/" + url.PathEscape(e.o.Alias), IgnoreErrors: []int{http.StatusNotFound},
	})
	if err != nil {
		return nil, mapError(err)
	}
	if res.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &m); err != nil {
		return nil, errs.Internal(err)
	}
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	return out, nil
}

// Write indexes or deletes conversations on the alias, in bulk requests
// of at most Options.BulkBytes.
// Deletions reach the versions being rebuilt beside it too (see
// deleteFromRebuilds).
func (e *Engine) Write(ctx context.Context, ops []search.Op) ([]error, error) {
	if err := e.ensure(ctx); err != nil {
		return nil, err
	}
	alias := !e.noRequireAlias.Load()
	failed, err := bulk(ctx, e.c, e.o.Alias, ops, alias, e.o.BulkBytes)
	if alias && unknownRequireAlias(err) {
		// A cluster older than 7.10 knows no require_alias: it writes as
		// before, and a deleted index is found by the searches instead.
		e.noRequireAlias.Store(true)
		e.o.Log.Warn().Str("alias", e.o.Alias).Msg("the search cluster is older than 7.10 and cannot refuse writes to a deleted index: a write after the live index was deleted creates an index of the alias's name with a guessed mapping; upgrade the cluster")
		failed, err = bulk(ctx, e.c, e.o.Alias, ops, false, e.o.BulkBytes)
	}
	if err != nil {
		return nil, err
	}
	for _, f := range failed {
		if errors.Is(f, errIndexGone) {
			e.lost(ctx)
			break
		}
	}
	if err := e.deleteFromRebuilds(ctx, ops); err != nil {
		return nil, err
	}
	return failed, nil
}

// deleteFromRebuilds removes the conversations that ops delete from every
// version of the alias created after the one it names: an index a rebuild
// is loading. The rebuild removes what was deleted before it finished writing;
// a deletion after that would otherwise reach the live index only, and the
// rebuild's own removal after its swap is all that would take it out of
// the new one: a rebuild killed at the swap would make the deleted (or
// erased) conversation searchable again, with nothing left to remove it.
// Deleting by id needs no refresh of the index being loaded, and a
// document the rebuild writes later was read before the deletion, which
// its removal before the swap finds gone. It costs one listing of the
// versions per write that deletes anything.
func (e *Engine) deleteFromRebuilds(ctx context.Context, ops []search.Op) error {
	var deletes []search.Op
	for _, op := range ops {
		if op.Doc == nil {
			deletes = append(deletes, search.Op{TenantID: op.TenantID, ConversationID: op.ConversationID})
		}
	}
	if len(deletes) == 0 {
		return nil
	}
	versions, err := e.versions(ctx)
	if err != nil {
		return err
	}
	live, err := e.aliasIndices(ctx)
	if err != nil {
		return err
	}
	// Only versions created after the live one: one that a rebuild stopped
	// by a kill left behind is dropped by the next rebuild, and one that
	// cannot take writes any more (closed, blocked) must not hold up every
	// deletion meanwhile.
	var newestLive int64
	for _, name := range live {
		newestLive = max(newestLive, versions[name])
	}
	for name, created := range versions {
		if slices.Contains(live, name) || created <= newestLive {
			continue
		}
		failed, err := bulk(ctx, e.c, name, deletes, false, e.o.BulkBytes)
		if err != nil {
			return fmt.Errorf("deleting from %s, being rebuilt: %w", name, err)
		}
		if err := errors.Join(failed...); err != nil {
			return fmt.Errorf("deleting from %s, being rebuilt: %w", name, err)
		}
	}
	return nil
}

// versions lists the versions of the alias ("<alias>_v<N>_<UTC time>", or
// "<alias>_v<N>" as the first start creates it) with their creation times
// (epoch milliseconds).
func (e *Engine) versions(ctx context.Context) (map[string]int64, error) {
	res, err := e.c.PerformRequest(ctx, olivere.PerformRequestOptions{
		Method: http.MethodGet, Path: "/_cat/indices/" + url.PathEscape(e.o.Alias) + "_v*",
		Params: url.Values{"format": {"json"}, "h": {"index,creation.date"}},
	})
	if err != nil {
		return nil, mapError(err)
	}
	var rows []struct {
		Index   string `json:"index"`
		Created string `json:"creation.date"`
	}
	if err := json.Unmarshal(res.Body, &rows); err != nil {
		return nil, errs.Internal(fmt.Errorf("decoding the index list: %w", err))
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		if e.version.MatchString(r.Index) {
			out[r.Index], _ = strconv.ParseInt(r.Created, 10, 64)
		}
	}
	return out, nil
}

// DefaultBulkBytes is the default budget of one bulk request (Options.BulkBytes).
const DefaultBulkBytes = 10 << 20

// MaxContentLength is Elasticsearch's default http.max_content_length: a
// request body over it is refused with 413, whatever it holds.
const MaxContentLength = 100 << 20

// bulk writes ops to index in _bulk requests of at most budget bytes each
// (a document larger than that goes alone); with alias, index must be an
// alias (require_alias), so that a write to an alias whose index was
// deleted fails rather than create an index of that name with a mapping
// guessed from the document. The body is built here rather than by the client's
// BulkService, which would copy each document three times over.
//
// A request the cluster refuses for its size (413) or under indexing
// pressure (429) is split in two and each half sent again; a document
// refused so on its own fails alone. When the first request fails as a
// whole (the cluster is down), so does the call; once some were sent, the
// operations of a request that fails, and of those not sent because ctx
// ended, fail each with the cause (search.ErrNotSent when ctx ended), so
// that what was written is not written again.
func bulk(ctx context.Context, c *olivere.Client, index string, ops []search.Op, alias bool, budget int) ([]error, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if budget <= 0 {
		budget = DefaultBulkBytes
	}
	failed := make([]error, len(ops))
	lines := make([][]byte, len(ops))
	for i, op := range ops {
		line, err := bulkLines(op)
		if err != nil {
			return nil, err
		}
		lines[i] = line
	}
	sent := false
	for start := 0; start < len(ops); {
		end, size := start, 0
		for end < len(ops) && (end == start || size+len(lines[end]) <= budget) {
			size += len(lines[end])
			end++
		}
		if err := ctx.Err(); err != nil && sent {
			for i := start; i < len(ops); i++ {
				failed[i] = fmt.Errorf("%w: %w", search.ErrNotSent, err)
			}
			return failed, nil
		}
		err := bulkSplit(ctx, c, index, ops[start:end], lines[start:end], failed[start:end], alias)
		if err != nil && !sent {
			return nil, err
		}
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", search.ErrNotSent, ctx.Err())
		}
		if err != nil {
			for i := start; i < end; i++ {
				failed[i] = err
			}
		}
		sent = true
		start = end
	}
	return failed, nil
}

// bulkSplit sends ops (their lines) in one request, and again as two
// halves when the cluster refuses it for its size or under pressure.
func bulkSplit(ctx context.Context, c *olivere.Client, index string, ops []search.Op, lines [][]byte, failed []error, alias bool) error {
	err := bulkOnce(ctx, c, index, ops, lines, failed, alias)
	if err == nil || !olivere.IsStatusCode(err, http.StatusRequestEntityTooLarge) && !olivere.IsStatusCode(err, http.StatusTooManyRequests) {
		return mapError(err)
	}
	if len(ops) == 1 {
		size := len(lines[0])
		if olivere.IsStatusCode(err, http.StatusRequestEntityTooLarge) {
			failed[0] = fmt.Errorf("conversation %d: its document of %d bytes is over the cluster's http.max_content_length (the default is %d bytes): %w",
				ops[0].ConversationID, size, MaxContentLength, err)
		} else {
			failed[0] = fmt.Errorf("conversation %d: its document of %d bytes was refused under indexing pressure (indexing_pressure.memory.limit): %w",
				ops[0].ConversationID, size, mapError(err))
		}
		return nil
	}
	half := len(ops) / 2
	if err := bulkSplit(ctx, c, index, ops[:half], lines[:half], failed[:half], alias); err != nil {
		return err
	}
	if err := bulkSplit(ctx, c, index, ops[half:], lines[half:], failed[half:], alias); err != nil {
		for i := half; i < len(ops); i++ {
			failed[i] = err
		}
	}
	return nil
}

// bulkOnce sends ops in one _bulk request and sets each one's outcome in
// failed; the error is the request's (the client's, not mapped).
func bulkOnce(ctx context.Context, c *olivere.Client, index string, ops []search.Op, lines [][]byte, failed []error, alias bool) error {
	params := url.Values{}
	if alias {
		params.Set("require_alias", "true")
	}
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	var body strings.Builder
	body.Grow(size)
	for _, l := range lines {
		body.Write(l)
	}
	res, err := c.PerformRequest(ctx, olivere.PerformRequestOptions{
		Method: http.MethodPost, Path: "/" + url.PathEscape(index) + "/_bulk", Params: params,
		Body: body.String(), ContentType: "application/x-ndjson",
	})
	if err != nil {
		return err
	}
	var out olivere.BulkResponse
	if err := json.Unmarshal(res.Body, &out); err != nil {
		return errs.Internal(fmt.Errorf("decoding the bulk answer: %w", err))
	}
	if len(out.Items) != len(ops) {
		return errs.Internal(fmt.Errorf("the bulk answer has %d items for %d operations", len(out.Items), len(ops)))
	}
	for i, item := range out.Items {
		for _, r := range item {
			switch {
			case r.Status >= 200 && r.Status < 300,
				r.Status == http.StatusConflict, // a newer version is indexed
				r.Status == http.StatusNotFound && ops[i].Doc == nil:
			case r.Error != nil && r.Error.Type == "index_not_found_exception":
				failed[i] = fmt.Errorf("%w: elasticsearch %d: %s", errIndexGone, r.Status, r.Error.Reason)
			case r.Error != nil:
				failed[i] = fmt.Errorf("elasticsearch %d: %s: %s", r.Status, r.Error.Type, r.Error.Reason)
			default:
				failed[i] = fmt.Errorf("elasticsearch %d", r.Status)
			}
		}
	}
	return nil
}

// BulkBody is the NDJSON of ops: an index action per document, with its
// transcript version as an external_gte version (a replay of the same
// version is fine, an older one loses to a newer one already indexed), a
// delete action for a conversation gone. Benchmarks and the corpus loader
// send it to _bulk directly.
func BulkBody(ops []search.Op) (string, error) {
	var b strings.Builder
	for _, op := range ops {
		line, err := bulkLines(op)
		if err != nil {
			return "", err
		}
		b.Write(line)
	}
	return b.String(), nil
}

// bulkLines is op's action line, and its document's line when it indexes
// one. The document is encoded without HTML escaping: a transcript of '<'
// and '>' would otherwise grow sixfold (\u003c), and only JSON's own
// escapes ('"', '\\', controls) are left, which at most double a text.
func bulkLines(op search.Op) ([]byte, error) {
	id := strconv.FormatInt(op.ConversationID, 10)
	if op.Doc == nil {
		return []byte(`{"delete":{"_id":"` + id + `"}}` + "\n"), nil
	}
	doc, err := json.MarshalWithOption(source(op.Doc), json.DisableHTMLEscape())
	if err != nil {
		return nil, errs.Internal(fmt.Errorf("encoding conversation %d: %w", op.ConversationID, err))
	}
	action := `{"index":{"_id":"` + id + `","version":` + strconv.FormatInt(op.Doc.Version, 10) + `,"version_type":"external_gte"}}` + "\n"
	b := make([]byte, 0, len(action)+len(doc)+1)
	b = append(b, action...)
	b = append(b, doc...)
	return append(b, '\n'), nil
}

type sentenceSource struct {
	Seq         int     `json:"seq"`
	SpeakerKey  string  `json:"speaker_key"`
	Affiliation string  `json:"affiliation"`
	StartMS     int64   `json:"start_ms"`
	EndMS       int64   `json:"end_ms"`
	Text        string  `json:"text"`
	Norm        float64 `json:"norm"`
}

// docSource is the indexed JSON of a conversation (the mapping of
// indexBody).
type docSource struct {
	TenantID       int64            `json:"tenant_id"`
	ConversationID int64            `json:"conversation_id"`
	OwnerUserID    int64            `json:"owner_user_id"`
	DepartmentPath string           `json:"department_path"`
	DealID         int64            `json:"deal_id"`
	Title          string           `json:"title"`
	Channel        string           `json:"channel"`
	Direction      string           `json:"direction"`
	BeginTime      int64            `json:"begin_time"`
	DurationMS     int64            `json:"duration_ms"`
	Language       string           `json:"language"`
	Version        int64            `json:"version"`
	Sentences      []sentenceSource `json:"sentences"`
}

func source(d *search.Doc) docSource {
	sentences := make([]sentenceSource, len(d.Sentences))
	for i, s := range d.Sentences {
		sentences[i] = sentenceSource{Seq: s.Seq, SpeakerKey: s.SpeakerKey, Affiliation: s.Affiliation, StartMS: s.StartMS, EndMS: s.EndMS, Text: s.Text, Norm: search.Norm(s.Text)}
	}
	return docSource{
		TenantID: d.TenantID, ConversationID: d.ConversationID, OwnerUserID: d.OwnerUserID,
		DepartmentPath: d.DepartmentPath, DealID: d.DealID, Title: d.Title, Channel: d.Channel,
		Direction: d.Direction, BeginTime: d.BeginTime.UnixMilli(), DurationMS: d.DurationMS,
		Language: d.Language, Version: d.Version, Sentences: sentences,
	}
}

// Refresh makes every write so far searchable now, instead of at the
// index's next periodic refresh.
func (e *Engine) Refresh(ctx context.Context) error {
	_, err := e.c.Refresh(e.o.Alias).Do(ctx)
	return mapError(err)
}

// mapError turns a client error into the service's: anything that says the
// cluster cannot serve now is DEPENDENCY_UNAVAILABLE (503, retryable).
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err // an open breaker
	}
	var ne net.Error
	var oe *olivere.Error
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne), olivere.IsConnErr(err),
		errors.Is(err, olivere.ErrNoClient):
		return errs.Unavailable(Dependency).WithCause(err)
	case errors.As(err, &oe) && (oe.Status >= 500 || oe.Status == http.StatusTooManyRequests):
		return errs.Unavailable(Dependency).WithCause(err)
	}
	return errs.Internal(err)
}

// timeZone names loc for Elasticsearch.
func timeZone(loc *time.Location) string {
	if loc == nil || loc.String() == "Local" || loc.String() == "" {
		return "UTC"
	}
	return loc.String()
}
