package conversation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// maxFilterOwners bounds ConversationFilter.OwnerIDs.
const maxFilterOwners = 100

// ListRequest asks for one page of conversations. Errors name
// the filter's fields by NormalizeFilter's ids, the others page_size and
// page_token.
type ListRequest struct {
	Filter    model.ConversationFilter
	PageSize  int
	PageToken string
	// Unread is the transport's error for a part of the request it could
	// not read (a filter timestamp out of range): List returns it once the
	// caller's scope allows the call, so that a caller without the scope
	// learns nothing of its arguments.
	Unread error
}

// Page is one page of a conversation list.
type Page struct {
	Conversations []View
	// NextPageToken is empty on the last page.
	NextPageToken string
	// Total counts the matches over all pages.
	Total int64
}

// listCursor is the page token's content: the keyset position of the last
// conversation served, and a fingerprint of the filter it belongs to.
type listCursor struct {
	BeginMS int64  `json:"b"`
	ID      int64  `json:"i"`
	Filter  string `json:"f"`
}

// List returns a page of the conversations in the caller's scope that match
// the filter, newest begin_time first (ties: higher id first). Pages are a
// keyset walk, so conversations inserted meanwhile never shift a page: each
// conversation that existed when the walk began is served exactly once.
func (c *Reader) List(ctx context.Context, req ListRequest) (Page, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return Page{}, err
	}
	if req.Unread != nil {
		return Page{}, req.Unread
	}
	f, err := NormalizeFilter(req.Filter)
	if err != nil {
		return Page{}, err
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return Page{}, err
	}
	if err := CheckFilterRefs(ctx, c.repo, s.TenantID, f); err != nil {
		return Page{}, err
	}
	fp := filterFingerprint(f)
	var cur listCursor
	if err := access.DecodePageToken(req.PageToken, &cur); err != nil {
		return Page{}, err
	}
	var after *model.ConversationCursor
	if req.PageToken != "" {
		if cur.Filter != fp || cur.ID <= 0 {
			return Page{}, errs.InvalidArgument("page_token", "belongs to a different filter; start again without a page_token")
		}
		after = &model.ConversationCursor{BeginTime: time.UnixMilli(cur.BeginMS).UTC(), ID: cur.ID}
		// A token is the client's to forge: a time the database cannot
		// compare would fail there as an outage, and count against the
		// breaker that every caller of the list shares.
		if after.BeginTime.IsZero() || access.CheckQueryTime("page_token", after.BeginTime) != nil {
			return Page{}, errs.InvalidArgument("page_token", "is not a token this service issued")
		}
	}
	rows, err := c.repo.List(ctx, s, f, after, size+1)
	if err != nil {
		return Page{}, err
	}
	total, err := c.repo.Count(ctx, s, f)
	if err != nil {
		return Page{}, err
	}
	page := Page{Conversations: make([]View, 0, min(len(rows), size)), Total: total}
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		page.NextPageToken = access.EncodePageToken(listCursor{BeginMS: last.BeginTime.UnixMilli(), ID: last.ID, Filter: fp})
	}
	for _, r := range rows {
		page.Conversations = append(page.Conversations, NewView(r))
	}
	return page, nil
}

// NormalizeFilter validates a filter and puts it in canonical
// form (owner ids sorted and unique, times in UTC to the millisecond).
// Errors name the filter's fields: from, to, owner_ids, department_id,
// deal_id, direction, min_duration_ms, max_duration_ms, tracker_id.
func NormalizeFilter(f model.ConversationFilter) (model.ConversationFilter, error) {
	if err := access.CheckQueryTime("from", f.From); err != nil {
		return f, err
	}
	if err := access.CheckQueryTime("to", f.To); err != nil {
		return f, err
	}
	if !f.From.IsZero() {
		f.From = f.From.UTC().Truncate(time.Millisecond)
	}
	if !f.To.IsZero() {
		f.To = f.To.UTC().Truncate(time.Millisecond)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, errs.InvalidArgument("to", "must be later than the start of the time range")
	}
	if len(f.OwnerIDs) > maxFilterOwners {
		return f, errs.InvalidArgument("owner_ids", "at most %d owners (got %d)", maxFilterOwners, len(f.OwnerIDs))
	}
	for _, id := range f.OwnerIDs {
		if err := access.CheckID("owner_ids", id); err != nil {
			return f, err
		}
	}
	if len(f.OwnerIDs) > 0 {
		f.OwnerIDs = slices.Compact(slices.Sorted(slices.Values(f.OwnerIDs)))
	}
	for _, x := range []struct {
		field string
		id    int64
	}{{"department_id", f.DepartmentID}, {"deal_id", f.DealID}, {"tracker_id", f.TrackerID}} {
		if x.id < 0 {
			return f, errs.InvalidArgument(x.field, "must be a positive id (got %d)", x.id)
		}
	}
	switch f.Direction {
	case "", model.DirectionInbound, model.DirectionOutbound, model.DirectionUnknown:
	default:
		return f, errs.InvalidArgument("direction", "must be inbound, outbound or unknown (got %q)", f.Direction)
	}
	if f.MinDurationMS != nil && *f.MinDurationMS < 0 {
		return f, errs.InvalidArgument("min_duration_ms", "must be >= 0 (got %d)", *f.MinDurationMS)
	}
	if f.MaxDurationMS != nil && *f.MaxDurationMS < 0 {
		return f, errs.InvalidArgument("max_duration_ms", "must be >= 0 (got %d)", *f.MaxDurationMS)
	}
	if f.MinDurationMS != nil && f.MaxDurationMS != nil && *f.MaxDurationMS < *f.MinDurationMS {
		return f, errs.InvalidArgument("max_duration_ms", "must be >= the minimum duration")
	}
	return f, nil
}

// FilterRefs tells whether the department and the tracker a filter names
// are the tenant's.
type FilterRefs interface {
	// HasDepartment reports whether the tenant has the department.
	HasDepartment(ctx context.Context, tenantID, id int64) (bool, error)
	// HasLiveTracker reports whether the tenant has the tracker, not
	// deleted.
	HasLiveTracker(ctx context.Context, tenantID, id int64) (bool, error)
}

// CheckFilterRefs refuses a filter by a department or a tracker the
// tenant does not have, as the operations on them do: DEPARTMENT_NOT_FOUND
// or TRACKER_NOT_FOUND naming the field and the id. Another tenant's
// department or tracker, and a deleted tracker, are as unknown as none, so
// a filter tells nothing of other tenants. A department outside the
// caller's scope but in the tenant is known (the department tree is the
// tenant's to see); it only matches none of the caller's conversations.
func CheckFilterRefs(ctx context.Context, refs FilterRefs, tenantID int64, f model.ConversationFilter) error {
	for _, ref := range []struct {
		id            int64
		field, reason string
		what          string
		has           func(ctx context.Context, tenantID, id int64) (bool, error)
	}{
		{f.DepartmentID, "department_id", errs.ReasonDepartmentNotFound, "department", refs.HasDepartment},
		{f.TrackerID, "tracker_id", errs.ReasonTrackerNotFound, "tracker", refs.HasLiveTracker},
	} {
		if ref.id == 0 {
			continue
		}
		ok, err := ref.has(ctx, tenantID, ref.id)
		if err != nil {
			return err
		}
		if !ok {
			return errs.NotFoundIn(ref.reason, ref.field, "no %s %d in this tenant", ref.what, ref.id)
		}
	}
	return nil
}

// filterFingerprint ties a page token to its (normalized) filter.
func filterFingerprint(f model.ConversationFilter) string {
	data, _ := json.Marshal(f)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
