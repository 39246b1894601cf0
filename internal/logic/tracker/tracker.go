package tracker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// Limits of a tracker.
const (
	maxName         = 255
	maxKeywords     = 100
	maxKeywordChars = 64
)

// Repo stores trackers. Every change that alters what a tracker
// matches writes, in the same transaction, a job for the tracker's new
// version (model.OutboxTrackerApply) and drops the jobs of older versions.
type Repo interface {
	// PageTrackers returns the live trackers of a tenant with an id above
	// afterID, ordered by id, at most limit of them (every one when limit
	// is 0).
	PageTrackers(ctx context.Context, tenantID, afterID int64, limit int) ([]model.Tracker, error)
	// CountTrackers counts the live trackers of a tenant, every one
	// PageTrackers would page through.
	CountTrackers(ctx context.Context, tenantID int64) (int64, error)
	// GetTracker returns a live tracker; TRACKER_NOT_FOUND otherwise.
	GetTracker(ctx context.Context, tenantID, id int64) (*model.Tracker, error)
	// CreateTracker inserts t at version 1 and sets its id. With
	// maxPerTenant > 0, a tenant that has that many live trackers gets
	// TRACKER_QUOTA_EXCEEDED instead, decided atomically with the insert.
	CreateTracker(ctx context.Context, t *model.Tracker, maxPerTenant int) error
	// UpdateTracker saves name, keywords and affiliation of a live tracker
	// and fills t from the stored row. When keywords or affiliation change
	// (rematch) it bumps the version and queues the job.
	UpdateTracker(ctx context.Context, t *model.Tracker) (rematch bool, err error)
	// DeleteTracker soft-deletes a live tracker and bumps its version; the
	// job purges its hits.
	DeleteTracker(ctx context.Context, tenantID, id int64) error
	// ApplyingTrackers returns the ids of a tenant's trackers that have a
	// re-application job pending.
	ApplyingTrackers(ctx context.Context, tenantID int64) (map[int64]bool, error)
}

// Tracker is a keyword tracker with the state of its application.
type Tracker struct {
	ID          int64
	Name        string
	Keywords    []string
	Affiliation string
	// Applying is true while the tracker is being (re-)applied to existing
	// conversations in the background.
	Applying  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Input is what a create or an update sets.
type Input struct {
	Name        string
	Keywords    []string
	Affiliation string
}

// Trackers are the tracker use cases.
type Trackers struct {
	repo Repo
	// applied wakes the background re-application after a change commits.
	applied func()
	// events and tx, when set, write a deletion's tracker.deleted event.
	events Appender
	tx     Transactor
	// max caps a tenant's live trackers (SetMaxPerTenant); 0 is no cap.
	max int
}

// NewTrackers serves trackers from repo; applied (may be nil) is called
// after every change that queued a re-application.
func NewTrackers(repo Repo, applied func()) *Trackers {
	if applied == nil {
		applied = func() {}
	}
	return &Trackers{repo: repo, applied: applied}
}

// SetMaxPerTenant caps the live trackers of a tenant: a create past n
// answers 409 TRACKER_QUOTA_EXCEEDED. Until it is called there is no cap.
func (t *Trackers) SetMaxPerTenant(n int) { t.max = n }

// ListRequest pages a tenant's trackers by id: PageSize 1..100, PageToken
// from the previous page. With neither, the list is whole, as it was before
// it was paged (a tenant has at most trackers.max_per_tenant); with a
// token alone a page holds 20.
type ListRequest struct {
	PageSize  int
	PageToken string
	// Unread is the transport's error for a part of the request it could
	// not read: List returns it once the caller's scope allows the call.
	Unread error
}

// Page is a page of trackers by id; NextPageToken is empty on the last.
// Total is how many live trackers the tenant has across all pages.
type Page struct {
	Trackers      []Tracker
	NextPageToken string
	Total         int64
}

// List pages the trackers of the caller's tenant by id; trackers are
// tenant configuration, visible to every member. The cursor is the last id
// shown, so trackers created or deleted meanwhile neither repeat nor shift
// the others.
func (t *Trackers) List(ctx context.Context, req ListRequest) (Page, error) {
	s, err := access.Require(ctx, access.Read)
	if err != nil {
		return Page{}, err
	}
	if req.Unread != nil {
		return Page{}, req.Unread
	}
	size := 0 // the whole list
	if req.PageSize != 0 || req.PageToken != "" {
		if size, err = access.PageSize(req.PageSize); err != nil {
			return Page{}, err
		}
	}
	after, err := access.DecodeIDPageToken(req.PageToken)
	if err != nil {
		return Page{}, err
	}
	limit := 0
	if size > 0 {
		limit = size + 1 // one more tells whether a next page exists
	}
	rows, err := t.repo.PageTrackers(ctx, s.TenantID, after, limit)
	if err != nil {
		return Page{}, err
	}
	// The whole list is its own total; a page needs the count.
	page := Page{Total: int64(len(rows))}
	if size > 0 {
		if page.Total, err = t.repo.CountTrackers(ctx, s.TenantID); err != nil {
			return Page{}, err
		}
	}
	if size > 0 && len(rows) > size {
		rows = rows[:size]
		page.NextPageToken = access.EncodeIDPageToken(rows[size-1].ID)
	}
	applying, err := t.repo.ApplyingTrackers(ctx, s.TenantID)
	if err != nil {
		return Page{}, err
	}
	page.Trackers = make([]Tracker, 0, len(rows))
	for i := range rows {
		page.Trackers = append(page.Trackers, trackerView(&rows[i], applying[rows[i].ID]))
	}
	return page, nil
}

// Create adds a tracker and queues its application to existing conversations.
func (t *Trackers) Create(ctx context.Context, in Input) (Tracker, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return Tracker{}, err
	}
	row, err := trackerRow(in, nil)
	if err != nil {
		return Tracker{}, err
	}
	row.TenantID = s.TenantID
	if err := t.repo.CreateTracker(ctx, row, t.max); err != nil {
		return Tracker{}, err
	}
	t.applied()
	return trackerView(row, true), nil
}

// Update replaces a tracker's name, keywords and affiliation. A change of
// keywords or affiliation queues a re-application; a rename does not.
func (t *Trackers) Update(ctx context.Context, id int64, in Input) (Tracker, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return Tracker{}, err
	}
	stored, err := t.repo.GetTracker(ctx, s.TenantID, id)
	if err != nil {
		return Tracker{}, err
	}
	row, err := trackerRow(in, stored)
	if err != nil {
		return Tracker{}, err
	}
	row.ID, row.TenantID = id, s.TenantID
	rematch, err := t.repo.UpdateTracker(ctx, row)
	if err != nil {
		return Tracker{}, err
	}
	if rematch {
		t.applied()
		return trackerView(row, true), nil
	}
	pending, err := t.repo.ApplyingTrackers(ctx, s.TenantID)
	if err != nil {
		return Tracker{}, err
	}
	return trackerView(row, pending[id]), nil
}

// Delete removes a tracker; its hits are purged in the background and are
// no longer counted from the moment of the delete, which a tracker.deleted
// event tells partners (SetEventLog).
func (t *Trackers) Delete(ctx context.Context, id int64) error {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return err
	}
	if err := t.deleteWithEvent(ctx, s.TenantID, id); err != nil {
		return err
	}
	t.applied()
	return nil
}

func trackerView(t *model.Tracker, applying bool) Tracker {
	var keywords []string
	_ = json.Unmarshal([]byte(t.Keywords), &keywords)
	if keywords == nil {
		keywords = []string{}
	}
	return Tracker{
		ID: t.ID, Name: t.Name, Keywords: keywords, Affiliation: t.Affiliation, Applying: applying,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(),
	}
}

// trackerRow validates in and makes the stored form. A name or keyword is
// held to access.CheckName where it is new: not one of stored (nil for a
// new tracker), which an earlier release may have taken; an update that
// sends it again keeps it, with access.CheckLine.
func trackerRow(in Input, stored *model.Tracker) (*model.Tracker, error) {
	name := strings.TrimSpace(in.Name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return nil, errs.InvalidArgument("name", "is required")
	case n > maxName:
		return nil, errs.InvalidArgument("name", "is longer than %d characters", maxName)
	}
	check := access.CheckName
	if stored != nil && name == stored.Name {
		check = access.CheckLine
	}
	if err := check("name", name); err != nil {
		return nil, err
	}
	aff := in.Affiliation
	switch aff {
	case "":
		aff = model.AffiliationAnyone
	case model.AffiliationAnyone, model.AffiliationInternal, model.AffiliationExternal:
	default:
		return nil, errs.InvalidArgument("affiliation", "must be anyone, internal or external (got %q)", in.Affiliation)
	}
	storedKeywords := map[string]bool{}
	if stored != nil {
		var keywords []string
		_ = json.Unmarshal([]byte(stored.Keywords), &keywords)
		for _, k := range keywords {
			storedKeywords[k] = true
		}
	}
	keywords, err := cleanKeywords(in.Keywords, storedKeywords)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(keywords)
	if err != nil {
		return nil, errs.Internal(err)
	}
	return &model.Tracker{Name: name, Keywords: string(data), Affiliation: aff}, nil
}

// cleanKeywords trims and collapses spaces, checks the limits, and drops
// keywords that match exactly like an earlier one ("Price" after "price").
// A keyword in stored is held to access.CheckLine, any other to
// access.CheckName.
func cleanKeywords(in []string, stored map[string]bool) ([]string, error) {
	switch {
	case len(in) == 0:
		return nil, errs.InvalidArgument("keywords", "at least one keyword is required")
	case len(in) > maxKeywords:
		return nil, errs.InvalidArgument("keywords", "at most %d keywords are allowed (got %d)", maxKeywords, len(in))
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, k := range in {
		field := fmt.Sprintf("keywords[%d]", i)
		k = strings.Join(strings.Fields(k), " ")
		if k == "" {
			return nil, errs.InvalidArgument(field, "is empty")
		}
		if utf8.RuneCountInString(k) > maxKeywordChars {
			return nil, errs.InvalidArgument(field, "is longer than %d characters", maxKeywordChars)
		}
		check := access.CheckName
		if stored[k] {
			check = access.CheckLine
		}
		if err := check(field, k); err != nil {
			return nil, err
		}
		toks := interaction.KeywordTokens(k)
		if len(toks) == 0 {
			return nil, errs.InvalidArgument(field, "has no letters, digits or CJK characters")
		}
		key := strings.Join(toks, "\x00")
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, k)
	}
	return out, nil
}
