package controller

import (
	"net/http"

	"github.com/megaview/mgvcore/internal/logic/search"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/render"
)

// Search serves transcript search under the operation of
// SearchService.SearchTranscripts.
type Search struct {
	Search *search.Search
}

// Routes adds POST /api/v1/search.
func (h Search) Routes(r Router) {
	r.Handle(http.MethodPost, "/api/v1/search", openv1.SearchService_SearchTranscripts_FullMethodName, h.Post)
}

// Post is POST /search with a JSON body: query (words and "phrases"), the
// conversation filter fields (from, to, owner_ids, department_id, deal_id,
// direction, min_duration_ms, max_duration_ms, tracker_id),
// speaker_affiliation, page_size and page_token.
func (h Search) Post(c echo.Context) error {
	var req search.SearchRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	page, err := h.Search.Search(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return render.OK(c, page)
}
