//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/http/controller"
)

// A deleted tracker's hits go without a tracker.matched each; the
// deletion writes one tracker.deleted event with the tracker id, in the
// log and on the stream, and a refused deletion writes none. On the real
// binary and MariaDB.
func TestTrackerDeletedEventOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	// Streams outlive the deadline of unary calls.
	s.Env["MGV_GRPC_REQUEST_TIMEOUT"] = "3s"
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	appTok, admin := f.AppToken(t), f.Token(t, f.Admin)
	p := newPartner(t, conn, appTok)
	trackerEvents := streamEvents(t, conn, appTok, 0, "tracker.matched", "tracker.deleted")
	otherEvents := streamEvents(t, conn, other.AppToken(t), 0)

	var tr controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Budget", "keywords": []string{"budget"}}).
		want(t, http.StatusCreated, "").decode(t, &tr)
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	conv := p.create("trk-del-1", f.Reps[0].ID, begin, 60_000, nil)
	if _, err := p.put(conv, said("rep", "What is your budget?", "cust", "The budget is small."), 10); err != nil {
		t.Fatal(err)
	}
	if e := trackerEvents.next(t, 10*time.Second); e.Type != "tracker.matched" || num(e, "tracker_id") != tr.ID || num(e, "hit_count") != 2 {
		t.Fatalf("the hits of the transcript: %d %s %v", e.Id, e.Type, e.Data.AsMap())
	}
	waitHits(t, s, f, tr.ID, []string{fmt.Sprintf("%d:0:budget", conv), fmt.Sprintf("%d:1:budget", conv)})

	// Refused deletions write nothing.
	path := fmt.Sprintf("/api/v1/trackers/%d", tr.ID)
	authCall(t, s, http.MethodDelete, path, f.Token(t, f.Reps[0]), nil).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodDelete, path, other.Token(t, other.Admin), nil).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	trackerEvents.quiet(t, 500*time.Millisecond)

	authCall(t, s, http.MethodDelete, path, admin, nil).want(t, http.StatusOK, "")
	e := trackerEvents.next(t, 10*time.Second)
	if e.Type != "tracker.deleted" || e.TenantId != f.Tenant.ID || num(e, "tracker_id") != tr.ID || len(e.Data.AsMap()) != 1 {
		t.Fatalf("after the deletion: %d %s %v", e.Id, e.Type, e.Data.AsMap())
	}
	// The hits are purged, with no further event; a second delete is 404.
	waitHits(t, s, f, tr.ID, nil)
	authCall(t, s, http.MethodDelete, path, admin, nil).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	trackerEvents.quiet(t, time.Second)
	otherEvents.quiet(t, 100*time.Millisecond)

	// The log over HTTP holds the same one event.
	logged := eventsOf(t, s, admin, "tracker.deleted")
	if len(logged) != 1 || logged[0].ID != e.Id || fmt.Sprint(logged[0].Data["tracker_id"]) != fmt.Sprint(tr.ID) {
		t.Fatalf("tracker.deleted in the log: %+v", logged)
	}
	if got := eventsOf(t, s, other.Token(t, other.Admin), "tracker.deleted"); len(got) != 0 {
		t.Fatalf("the other tenant's log: %+v", got)
	}
}

// A deleted tracker filters nothing: between its deletion and the end of
// the background purge its hits are still stored, and the conversation
// list and the search must not find conversations by them, as the hit
// counts and the tracker statistics do not; they answer TRACKER_NOT_FOUND
// as the statistics do (here the tracker is deleted in the database, with
// no purge queued, so its hits stay).
func TestDeletedTrackerFiltersNothingOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	var tr controller.TrackerJSON
	authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "Budget", "keywords": []string{"budget"}}).
		want(t, http.StatusCreated, "").decode(t, &tr)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	conv := p.create("trk-filter-1", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour), 60_000, nil)
	if _, err := p.put(conv, said("rep", "What is your budget?", "cust", "The budget is small."), 10); err != nil {
		t.Fatal(err)
	}
	waitHits(t, s, f, tr.ID, []string{fmt.Sprintf("%d:0:budget", conv), fmt.Sprintf("%d:1:budget", conv)})
	byTracker := url.Values{"tracker_id": {fmt.Sprint(tr.ID)}}
	if got := listAll(t, s, admin, byTracker); len(got) != 1 || got[0] != conv {
		t.Fatalf("by the live tracker: %v", got)
	}
	waitSearch(t, s, admin, "budget", 1, 10*time.Second)
	search := map[string]any{"query": "budget", "tracker_id": tr.ID}
	var page searchPage
	searchAs(t, s, admin, search).want(t, http.StatusOK, "").decode(t, &page)
	if page.Total != 1 {
		t.Fatalf("search by the live tracker: %d", page.Total)
	}

	if err := f.DB.Exec("UPDATE trackers SET deleted_at = ?, version = version + 1 WHERE id = ?", time.Now().UTC(), tr.ID).Error; err != nil {
		t.Fatal(err)
	}
	// A deleted tracker is as unknown as none, for the filters as for the
	// statistics.
	apiGet(t, s, "/api/v1/conversations?"+byTracker.Encode(), admin).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	searchAs(t, s, admin, search).want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
	apiGet(t, s, fmt.Sprintf("/api/v1/trackers/%d/stats?group_by=owner&from=%d&to=%d", tr.ID, time.Now().Add(-2*time.Hour).UnixMilli(), time.Now().UnixMilli()), admin).
		want(t, http.StatusNotFound, "TRACKER_NOT_FOUND")
}
