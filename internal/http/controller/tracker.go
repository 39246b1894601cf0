package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/render"
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
	L     *tracker.Trackers
	Stats *stats.Stats
}

// Routes adds the routes.
func (h Trackers) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/trackers", openv1.TrackerService_ListTrackers_FullMethodName, h.List)
	r.Handle(http.MethodPost, "/api/v1/trackers", OperationCreateTracker, h.Create)
	r.Handle(http.MethodPut, "/api/v1/trackers/:id", OperationUpdateTracker, h.Update)
	r.Handle(http.MethodDelete, "/api/v1/trackers/:id", OperationDeleteTracker, h.Delete)
	r.Handle(http.MethodGet, "/api/v1/trackers/:id/stats", openv1.TrackerService_GetTrackerStats_FullMethodName, h.TrackerStats)
}

// List is GET /trackers: every tracker of the tenant, by id.
func (h Trackers) List(c echo.Context) error {
	ts, err := h.L.List(c.Request().Context())
	if err != nil {
		return err
	}
	return render.OK(c, map[string]any{"trackers": ts})
}

// Create is POST /trackers (admins): {name, keywords, affiliation}.
func (h Trackers) Create(c echo.Context) error {
	var in tracker.Input
	if err := bind(c, &in); err != nil {
		return err
	}
	t, err := h.L.Create(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return render.JSON(c, http.StatusCreated, t)
}

// Update is PUT /trackers/{id} (admins): replaces name, keywords and
// affiliation.
func (h Trackers) Update(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in tracker.Input
	if err := bind(c, &in); err != nil {
		return err
	}
	t, err := h.L.Update(c.Request().Context(), id, in)
	if err != nil {
		return err
	}
	return render.OK(c, t)
}

// Delete is DELETE /trackers/{id} (admins).
func (h Trackers) Delete(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.L.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return render.OK(c, map[string]any{"id": id})
}

// TrackerStats is GET /trackers/{id}/stats?group_by=owner|day&from=…&to=….
func (h Trackers) TrackerStats(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	from, err := optTime(q, "from")
	if err != nil {
		return err
	}
	to, err := optTime(q, "to")
	if err != nil {
		return err
	}
	st, err := h.Stats.TrackerStats(c.Request().Context(), stats.TrackerStatsRequest{
		TrackerID: id, GroupBy: q.Get("group_by"), From: from, To: to,
	})
	if err != nil {
		return err
	}
	return render.OK(c, st)
}
