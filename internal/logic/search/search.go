package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
)

// maxTrackerConversations bounds the tracker filter, which reaches the
// engine as a list of conversation ids (Elasticsearch's default
// index.max_terms_count).
const maxTrackerConversations = 65_536

// Lookups are the database reads around a search (dao.SearchLookups).
type Lookups interface {
	ScopeOwners(ctx context.Context, s model.Scope) ([]int64, error)
	DepartmentOwners(ctx context.Context, tenantID, departmentID int64) ([]int64, bool, error)
	TrackerConversations(ctx context.Context, s model.Scope, f model.ConversationFilter, limit int) ([]int64, error)
	Location(ctx context.Context, tenantID int64) (*time.Location, error)
	UserNames(ctx context.Context, tenantID int64, ids []int64) (map[int64]string, error)
	Conversations(ctx context.Context, s model.Scope, ids []int64) (map[int64]model.Conversation, error)
	conversation.FilterRefs
}

// Service is transcript search, the same for the apps and for partners.
type Service struct {
	engine search.Engine
	db     Lookups
	// maxTracker is maxTrackerConversations (a test lowers it).
	maxTracker int

	// locations caches tenant time zones, which change rarely; a stale
	// one only shifts the per-day facet for a minute.
	mu        sync.Mutex
	locations map[int64]cachedLocation
}

type cachedLocation struct {
	loc     *time.Location
	expires time.Time
}

// NewService searches engine; db answers the scope and filter lookups.
func NewService(engine search.Engine, db Lookups) *Service {
	return &Service{engine: engine, db: db, maxTracker: maxTrackerConversations, locations: map[int64]cachedLocation{}}
}

// Request is a search. Errors name the filter's fields by NormalizeFilter's
// ids, the others query, speaker_affiliation, page_size and page_token.
type Request struct {
	Query string
	model.ConversationFilter
	// SpeakerAffiliation: only sentences of this side match (internal,
	// external, unknown); empty: any side.
	SpeakerAffiliation string
	PageSize           int
	PageToken          string
	// Unread is the transport's error for a part of the request it could
	// not read (see conversation.ListRequest): Search returns it once the
	// caller's scope allows the call.
	Unread error
}

// Page is one page of results and the facets over all of them.
type Page struct {
	Results []Result
	// Total counts matching conversations across all pages.
	Total       int64
	OwnerFacets []OwnerFacet
	DayFacets   []search.DayCount
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// Result is one matching conversation with its best sentences.
type Result struct {
	Conversation conversation.View
	Snippets     []search.Snippet
	Score        float64
}

// OwnerFacet counts matching conversations of one owner.
type OwnerFacet struct {
	OwnerUserID   int64
	OwnerName     string
	Conversations int64
}

// searchCursor is the page token: the engine position after the last
// result and a fingerprint of the search it belongs to.
type searchCursor struct {
	After  search.Cursor `json:"a"`
	Search string        `json:"f"`
}

// Search runs a search in the caller's data scope. The scope, every filter
// and the query all go into one engine query; nothing is filtered
// afterwards, except that conversations gone from the database since they
// were indexed are left out of the page.
func (s *Service) Search(ctx context.Context, req Request) (Page, error) {
	empty := Page{Results: []Result{}, OwnerFacets: []OwnerFacet{}, DayFacets: []search.DayCount{}}
	scope, err := access.Require(ctx, access.Search)
	if err != nil {
		return empty, err
	}
	if req.Unread != nil {
		return empty, req.Unread
	}
	terms, err := search.Parse(req.Query)
	if err != nil {
		return empty, err
	}
	f, err := conversation.NormalizeFilter(req.ConversationFilter)
	if err != nil {
		return empty, err
	}
	switch req.SpeakerAffiliation {
	case "", model.AffiliationInternal, model.AffiliationExternal, model.AffiliationUnknown:
	default:
		return empty, errs.InvalidArgument("speaker_affiliation", "must be internal, external or unknown (got %q)", req.SpeakerAffiliation)
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return empty, err
	}
	fp := searchFingerprint(terms, f, req.SpeakerAffiliation)
	q := search.Query{
		TenantID: scope.TenantID, Terms: terms, OwnerIDs: f.OwnerIDs, DealID: f.DealID, Direction: f.Direction,
		From: f.From, To: f.To, MinDurationMS: f.MinDurationMS, MaxDurationMS: f.MaxDurationMS,
		Affiliation: req.SpeakerAffiliation, Size: size,
	}
	if req.PageToken != "" {
		var cur searchCursor
		if err := access.DecodePageToken(req.PageToken, &cur); err != nil {
			return empty, err
		}
		if cur.Search != fp || cur.After.ID <= 0 {
			return empty, errs.InvalidArgument("page_token", "belongs to a different search; start again without a page_token")
		}
		q.After = &cur.After
	}
	if err := conversation.CheckFilterRefs(ctx, s.db, scope.TenantID, f); err != nil {
		return empty, err
	}
	if q.Owners, err = s.db.ScopeOwners(ctx, scope); err != nil {
		return empty, err
	}
	if f.DepartmentID != 0 {
		ids, ok, err := s.db.DepartmentOwners(ctx, scope.TenantID, f.DepartmentID)
		if err != nil {
			return empty, err
		}
		if len(q.OwnerIDs) > 0 {
			ids = slices.DeleteFunc(ids, func(id int64) bool { return !slices.Contains(q.OwnerIDs, id) })
		}
		if !ok || len(ids) == 0 {
			return empty, nil
		}
		q.OwnerIDs = ids
	}
	if f.TrackerID != 0 {
		// The conversations of the tracker that the rest of the filter
		// keeps: the engine applies the rest again, but a tracker of
		// years of calls is searched within a month by the month's ids.
		ids, err := s.db.TrackerConversations(ctx, scope, f, s.maxTracker+1)
		if err != nil {
			return empty, err
		}
		if len(ids) > s.maxTracker {
			return empty, errs.InvalidArgument("tracker_id", "the tracker hit more than %d conversations that the other filters keep; narrow the search with a time range or owners", s.maxTracker)
		}
		q.Conversations = ids
	}
	if q.Location, err = s.location(ctx, scope.TenantID); err != nil {
		return empty, err
	}
	res, err := s.engine.Search(ctx, q)
	if err != nil {
		return empty, err
	}
	return s.page(ctx, scope, res, fp)
}

// page joins the engine's result with the database rows.
func (s *Service) page(ctx context.Context, scope model.Scope, res search.Result, fp string) (Page, error) {
	out := Page{
		Results: make([]Result, 0, len(res.Hits)), Total: res.Total,
		OwnerFacets: make([]OwnerFacet, 0, len(res.Owners)), DayFacets: append(make([]search.DayCount, 0, len(res.Days)), res.Days...),
	}
	ids := make([]int64, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ConversationID
	}
	owners := make([]int64, len(res.Owners))
	for i, o := range res.Owners {
		owners[i] = o.OwnerUserID
	}
	convs, names, err := s.lookups(ctx, scope, ids, owners)
	if err != nil {
		return out, err
	}
	for _, h := range res.Hits {
		c, ok := convs[h.ConversationID]
		if !ok {
			continue
		}
		out.Results = append(out.Results, Result{Conversation: conversation.NewView(c), Score: h.Score,
			Snippets: append(make([]search.Snippet, 0, len(h.Snippets)), h.Snippets...)})
	}
	for _, o := range res.Owners {
		out.OwnerFacets = append(out.OwnerFacets, OwnerFacet{OwnerUserID: o.OwnerUserID, OwnerName: names[o.OwnerUserID], Conversations: o.Conversations})
	}
	if res.Next != nil {
		out.NextPageToken = access.EncodePageToken(searchCursor{After: *res.Next, Search: fp})
	}
	return out, nil
}

// lookups reads the conversations of a page and the names of its facet
// owners at the same time. The first error wins and cancels the other read.
func (s *Service) lookups(ctx context.Context, scope model.Scope, ids, owners []int64) (map[int64]model.Conversation, map[int64]string, error) {
	g, ctx := errgroup.WithContext(ctx)
	var (
		convs map[int64]model.Conversation
		names map[int64]string
	)
	g.Go(func() (err error) {
		convs, err = s.db.Conversations(ctx, scope, ids)
		return err
	})
	g.Go(func() (err error) {
		names, err = s.db.UserNames(ctx, scope.TenantID, owners)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return convs, names, nil
}

func (s *Service) location(ctx context.Context, tenantID int64) (*time.Location, error) {
	now := time.Now()
	s.mu.Lock()
	c, ok := s.locations[tenantID]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.loc, nil
	}
	loc, err := s.db.Location(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.locations) > 10_000 {
		clear(s.locations)
	}
	s.locations[tenantID] = cachedLocation{loc: loc, expires: now.Add(time.Minute)}
	s.mu.Unlock()
	return loc, nil
}

// searchFingerprint ties a page token to its query and filters.
func searchFingerprint(terms []search.Term, f model.ConversationFilter, affiliation string) string {
	data, _ := json.Marshal(struct {
		T []search.Term
		F model.ConversationFilter
		A string
	}{terms, f, affiliation})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
