package events

import (
	"context"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
)

// ListRequest asks for a page of the caller's tenant's log. Field names in
// errors are those of the HTTP query.
type ListRequest struct {
	// Cursor is the id of the last event received; 0 starts at the oldest
	// event kept.
	Cursor int64
	// Types filters by type; none means all.
	Types []string
	// PageSize is 1..100; 0 means 20.
	PageSize int
}

// Page is a page of the log.
type Page struct {
	// Events are by id.
	Events []Event
	// NextCursor is the cursor of the next page: the id of the last event
	// of this one, or the request's cursor when it is empty; or, when the
	// request named types and the page is not full, the id of the newest
	// event read past (of another type, at most ScanWindow after the
	// cursor), so that the next page does not read those events again.
	NextCursor int64
	// More tells that the log may hold events after NextCursor: the page
	// is full, or its read of some types ended at ScanWindow before the
	// newest event. A reader reads on at once while it is set, and polls
	// once it is not.
	More bool
}

// List returns the events after the cursor, oldest first. Admins and apps
// with "read" may page the log; a cursor whose following events were
// trimmed is EVENT_CURSOR_EXPIRED, one above the newest event
// INVALID_ARGUMENT (checkCursor).
func (l *Log) List(ctx context.Context, req ListRequest) (Page, error) {
	s, err := access.Require(ctx, access.TenantRead)
	if err != nil {
		return Page{}, err
	}
	if req.Cursor < 0 {
		return Page{}, errs.InvalidArgument("cursor", "must be 0 or the id of an event (got %d)", req.Cursor)
	}
	types, err := CheckTypes("types", req.Types)
	if err != nil {
		return Page{}, err
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return Page{}, err
	}
	evs, next, more, err := l.readThrough(ctx, s.TenantID, req.Cursor, types, size)
	if err != nil {
		return Page{}, err
	}
	if len(evs) == 0 {
		// Only an empty page can follow a cursor beyond the log: an event
		// after the cursor shows the cursor is below the newest one.
		if err := l.checkCursor(ctx, s.TenantID, req.Cursor); err != nil {
			return Page{}, err
		}
	}
	return Page{Events: evs, NextCursor: next, More: more || len(evs) == size}, nil
}

// checkCursor refuses a cursor above the tenant's newest event: no event of
// this log ever had that id (it is another tenant's, whose log is longer,
// or made up), and a reader resuming there would skip, without a word,
// every event of this tenant up to it. Ids only grow, so a cursor once
// received is never refused.
func (l *Log) checkCursor(ctx context.Context, tenantID, cursor int64) error {
	if cursor == 0 {
		return nil
	}
	last, _, err := l.repo.Head(ctx, tenantID)
	if err != nil {
		return err
	}
	if cursor > last {
		return errs.InvalidArgument("cursor", "%d is beyond the newest event of this tenant's log (%d): resume from the id of the last event received, or 0", cursor, last)
	}
	return nil
}

// Read returns at most limit events of the tenant after cursor (0: from
// the oldest kept), of the types (none: all), by id; EVENT_CURSOR_EXPIRED
// when some after cursor were trimmed. It checks no caller: it is for the
// service's own workers (webhook deliveries), which read for every tenant.
func (l *Log) Read(ctx context.Context, tenantID, cursor int64, types []string, limit int) ([]Event, error) {
	evs, _, err := l.read(ctx, tenantID, cursor, 0, types, limit)
	return evs, err
}

// ScanWindow is the most events of the log that one read of a few types
// passes over: ids follow one another per tenant, so a read of the ids up
// to the cursor's plus ScanWindow reads at most that many rows, whatever
// the types. Without it a read of a type that seldom occurs (person.erased)
// from cursor 0 read the tenant's whole log kept, and a caller repeating
// it, within its rate limit, had the database read millions of rows a
// second. A page read so may hold fewer events than asked for, even none,
// with its cursor moved on: the reader reads on from there.
const ScanWindow = 10_000

// readThrough is read, and also the id through which the log was read:
// the last event returned when limit of them came, else the tenant's
// newest event as it was before the read (ids follow commit order, so
// every event up to it was there to be read), or the end of the read's
// window (ScanWindow) when that comes first, or the last event returned,
// whichever is higher; more tells that the window ended before the
// newest event, so the reader may read on at once. A reader of a few types
// resumes there rather than after the last event it received, so it does
// not scan the events of the other types again at every read: with types
// that seldom occur (say person.erased), every event of the tenant woke
// each such stream into a scan of the whole log kept after its cursor.
func (l *Log) readThrough(ctx context.Context, tenantID, cursor int64, types []string, limit int) (evs []Event, through int64, more bool, err error) {
	var head, window int64
	if len(types) > 0 {
		if head, _, err = l.repo.Head(ctx, tenantID); err != nil {
			return nil, 0, false, err
		}
		window = ScanWindow
	}
	evs, upTo, err := l.read(ctx, tenantID, cursor, window, types, limit)
	if err != nil {
		return nil, 0, false, err
	}
	through = cursor
	if len(evs) > 0 {
		through = evs[len(evs)-1].ID
	}
	if len(evs) < limit {
		reached := head
		if upTo > 0 && upTo < head {
			reached, more = upTo, true
		}
		through = max(through, reached)
	}
	return evs, through, more, nil
}

// read returns at most limit events of the tenant after cursor (0: from
// the oldest kept), of ids up to the start plus window when window is
// above 0, and that bound (0 when none); or EVENT_CURSOR_EXPIRED when some
// of the events after cursor were trimmed.
func (l *Log) read(ctx context.Context, tenantID, cursor, window int64, types []string, limit int) ([]Event, int64, error) {
	const attempts = 3 // a trim between the two reads of cursor 0 moves the start
	for attempt := 1; ; attempt++ {
		from := cursor
		if cursor == 0 {
			_, trimmed, err := l.repo.Head(ctx, tenantID)
			if err != nil {
				return nil, 0, err
			}
			from = trimmed
		}
		var upTo int64
		if window > 0 {
			upTo = from + window
		}
		rows, trimmed, err := l.repo.After(ctx, tenantID, from, upTo, types, limit)
		if err != nil {
			return nil, 0, err
		}
		if trimmed > from {
			if cursor == 0 && attempt < attempts {
				continue
			}
			return nil, 0, errs.Of(errs.ReasonEventCursorExpired,
				"cursor: the events after %d were deleted by retention (the oldest kept is %d); read what changed since, then resume from a newer cursor",
				cursor, trimmed+1).With("field", "cursor")
		}
		out := make([]Event, len(rows))
		for i, r := range rows {
			if out[i], err = fromRow(r); err != nil {
				return nil, 0, err
			}
		}
		return out, upTo, nil
	}
}
