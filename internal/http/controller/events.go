package controller

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/events"
)

// OperationListEvents pages the event log (admins, apps with "read").
const OperationListEvents = "/mgv.web.v1.EventService/ListEvents"

// Events serves the partner event log.
type Events struct {
	Log *events.Log
}

// EventJSON is one event: the shape of a webhook body too (PRODUCT §7).
type EventJSON struct {
	ID         int64          `json:"id"`
	Type       string         `json:"type"`
	TenantID   int64          `json:"tenant_id"`
	OccurredAt time.Time      `json:"occurred_at"`
	Data       map[string]any `json:"data"`
}

// EventPageJSON is a page of the log.
type EventPageJSON struct {
	Events     []EventJSON `json:"events"`
	NextCursor int64       `json:"next_cursor"`
	HasMore    bool        `json:"has_more"`
}

// Routes adds the routes.
func (h Events) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/events", OperationListEvents, h.List, "cursor", Many("types"), "page_size")
}

// List is GET /events?cursor=…&types=…&page_size=…: the events after the
// cursor, oldest first; types repeated or comma-separated.
func (h Events) List(c echo.Context) error {
	q := c.QueryParams()
	cursor, err := optInt(q, "cursor")
	if err != nil {
		return err
	}
	size, err := optInt(q, "page_size")
	if err != nil {
		return err
	}
	var types []string
	for _, v := range q["types"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
	}
	page, err := h.Log.List(c.Request().Context(), events.ListRequest{Cursor: cursor, Types: types, PageSize: int(size)})
	if err != nil {
		return err
	}
	out := make([]EventJSON, 0, len(page.Events))
	for _, e := range page.Events {
		out = append(out, EventJSONOf(e))
	}
	return render.OK(c, EventPageJSON{Events: out, NextCursor: page.NextCursor, HasMore: page.More})
}

// EventJSONOf is the JSON form of an event.
func EventJSONOf(e events.Event) EventJSON {
	return EventJSON{ID: e.ID, Type: e.Type, TenantID: e.TenantID, OccurredAt: e.OccurredAt, Data: e.Data}
}
