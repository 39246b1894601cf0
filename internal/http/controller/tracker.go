package controller

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/stats"
	"github.com/megaview/mgvcore/internal/logic/tracker"
)

// Operations of the tracker writes, which only the apps offer.
const (
	OperationCreateTracker = "/mgv.web.v1.TrackerService/CreateTracker"
	OperationUpdateTracker = "/mgv.web.v1.TrackerService/UpdateTracker"
	OperationDeleteTracker = "/mgv.web.v1.TrackerService/DeleteTracker"
)

// Trackers serves keyword trackers and their statistics.
type Trackers struct {
	Trackers *tracker.Trackers
	Stats    *stats.Stats
}

// TrackerJSON is a tracker in the HTTP API.
type TrackerJSON struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Keywords    []string  `json:"keywords"`
	Affiliation string    `json:"affiliation"`
	Applying    bool      `json:"applying"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// TrackerInputJSON is the body of a tracker create or update.
type TrackerInputJSON struct {
	Name        string   `json:"name"`
	Keywords    []string `json:"keywords"`
	Affiliation string   `json:"affiliation"`
}

// TrackerStatsJSON is a tracker's hits grouped by owner or day.
type TrackerStatsJSON struct {
	TrackerID int64                    `json:"tracker_id"`
	GroupBy   string                   `json:"group_by"`
	Buckets   []TrackerStatsBucketJSON `json:"buckets"`
}

// TrackerStatsBucketJSON is the hits of one group.
type TrackerStatsBucketJSON struct {
	Key           string `json:"key"`
	Label         string `json:"label"`
	Hits          int64  `json:"hits"`
	Conversations int64  `json:"conversations"`
}

// Routes adds the routes.
func (h Trackers) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/trackers", openv1.TrackerService_ListTrackers_FullMethodName, h.List, pageParams...)
	r.Handle(http.MethodPost, "/api/v1/trackers", OperationCreateTracker, h.Create)
	r.Handle(http.MethodPut, "/api/v1/trackers/:id", OperationUpdateTracker, h.Update)
	r.Handle(http.MethodDelete, "/api/v1/trackers/:id", OperationDeleteTracker, h.Delete)
	r.Handle(http.MethodGet, "/api/v1/trackers/:id/stats", openv1.TrackerService_GetTrackerStats_FullMethodName, h.TrackerStats, "group_by", "from", "to")
}

// TrackerListJSON is a page of trackers.
type TrackerListJSON struct {
	Trackers      []TrackerJSON `json:"trackers"`
	NextPageToken string        `json:"next_page_token"`
	// Total counts the tenant's trackers over all pages.
	Total int64 `json:"total"`
}

// List is GET /trackers?page_size=&page_token=: the tenant's trackers by
// id, a page at a time; with neither parameter every tracker at once. The
// logic checks the caller's scope before the query (Unread).
func (h Trackers) List(c echo.Context) error {
	q := c.QueryParams()
	size, unread := optInt(q, "page_size")
	page, err := h.Trackers.List(c.Request().Context(), tracker.ListRequest{PageSize: int(size), PageToken: q.Get("page_token"), Unread: unread})
	if err != nil {
		return err
	}
	out := TrackerListJSON{Trackers: make([]TrackerJSON, 0, len(page.Trackers)), NextPageToken: page.NextPageToken, Total: page.Total}
	for _, t := range page.Trackers {
		out.Trackers = append(out.Trackers, TrackerJSON(t))
	}
	return render.OK(c, out)
}

// Create is POST /trackers (admins): {name, keywords, affiliation}.
func (h Trackers) Create(c echo.Context) error {
	var in TrackerInputJSON
	if err := bind(c, &in); err != nil {
		return err
	}
	t, err := h.Trackers.Create(c.Request().Context(), tracker.Input(in))
	if err != nil {
		return err
	}
	audit.Target(c.Request().Context(), "tracker", strconv.FormatInt(t.ID, 10))
	return render.JSON(c, http.StatusCreated, TrackerJSON(t))
}

// Update is PUT /trackers/{id} (admins): replaces name, keywords and
// affiliation.
func (h Trackers) Update(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in TrackerInputJSON
	if err := bind(c, &in); err != nil {
		return err
	}
	t, err := h.Trackers.Update(c.Request().Context(), id, tracker.Input(in))
	if err != nil {
		return err
	}
	return render.OK(c, TrackerJSON(t))
}

// Delete is DELETE /trackers/{id} (admins).
func (h Trackers) Delete(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.Trackers.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return render.OK(c, map[string]any{"id": id})
}

// TrackerStats is GET /trackers/{id}/stats?group_by=owner|day&from=…&to=….
// The logic checks the caller's scope before the arguments: what cannot be
// read goes to it as Unread.
func (h Trackers) TrackerStats(c echo.Context) error {
	id, unread := pathID(c)
	q := c.QueryParams()
	from, to, err := queryRange(q)
	if unread == nil {
		unread = err
	}
	st, err := h.Stats.TrackerStats(c.Request().Context(), stats.TrackerStatsRequest{
		TrackerID: id, GroupBy: q.Get("group_by"), From: from, To: to, Unread: unread,
	})
	if err != nil {
		return err
	}
	buckets := make([]TrackerStatsBucketJSON, 0, len(st.Buckets))
	for _, b := range st.Buckets {
		buckets = append(buckets, TrackerStatsBucketJSON(b))
	}
	return render.OK(c, TrackerStatsJSON{TrackerID: st.TrackerID, GroupBy: st.GroupBy, Buckets: buckets})
}
