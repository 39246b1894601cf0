package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/search"
	"github.com/megaview/mgvcore/internal/model"
	engine "github.com/megaview/mgvcore/internal/search"
)

// Search serves transcript search under the operation of
// SearchService.SearchTranscripts.
type Search struct {
	Search *search.Service
}

// Routes adds POST /api/v1/search.
func (h Search) Routes(r Router) {
	r.Handle(http.MethodPost, "/api/v1/search", openv1.SearchService_SearchTranscripts_FullMethodName, h.Post)
}

// SearchRequestJSON is the body of POST /search: the conversation filter's
// fields sit at its top level, named as the logic names them.
type SearchRequestJSON struct {
	// Query is words and "phrases".
	Query string `json:"query"`
	model.ConversationFilter
	SpeakerAffiliation string `json:"speaker_affiliation"`
	PageSize           int    `json:"page_size"`
	PageToken          string `json:"page_token"`
}

// Request is the search the body asks for.
func (r SearchRequestJSON) Request() search.Request {
	return search.Request{
		Query: r.Query, ConversationFilter: r.ConversationFilter, SpeakerAffiliation: r.SpeakerAffiliation,
		PageSize: r.PageSize, PageToken: r.PageToken,
	}
}

// SearchPageJSON is the body of a search's answer.
type SearchPageJSON struct {
	Results []SearchResultJSON `json:"results"`
	// Total counts matching conversations across all pages.
	Total       int64            `json:"total"`
	OwnerFacets []OwnerFacetJSON `json:"owner_facets"`
	DayFacets   []DayFacetJSON   `json:"day_facets"`
	// NextPageToken is empty on the last page.
	NextPageToken string `json:"next_page_token"`
}

// SearchResultJSON is one matching conversation with its best sentences.
type SearchResultJSON struct {
	Conversation ConversationJSON `json:"conversation"`
	Snippets     []SnippetJSON    `json:"snippets"`
	Score        float64          `json:"score"`
}

// SnippetJSON is a matching sentence, its matches wrapped in <em>…</em>.
type SnippetJSON struct {
	Seq        int    `json:"seq"`
	StartMS    int64  `json:"start_ms"`
	SpeakerKey string `json:"speaker_key"`
	Text       string `json:"text"`
}

// OwnerFacetJSON counts matching conversations of one owner.
type OwnerFacetJSON struct {
	OwnerUserID   int64  `json:"owner_user_id"`
	OwnerName     string `json:"owner_name"`
	Conversations int64  `json:"conversations"`
}

// DayFacetJSON counts matching conversations that began on one day of the
// tenant's time zone.
type DayFacetJSON struct {
	Day           string `json:"day"`
	Conversations int64  `json:"conversations"`
}

// Post is POST /search. The logic checks the caller's scope before the
// body: a body that cannot be read goes to it as Unread, so an app without
// search learns nothing of it.
func (h Search) Post(c echo.Context) error {
	var req SearchRequestJSON
	unread := bind(c, &req)
	sr := req.Request()
	sr.Unread = unread
	page, err := h.Search.Search(c.Request().Context(), sr)
	if err != nil {
		return err
	}
	return render.OK(c, SearchPageJSON{
		Results: convertAll(page.Results, func(r search.Result) SearchResultJSON {
			return SearchResultJSON{
				Conversation: ConversationJSON(r.Conversation),
				Snippets:     convertAll(r.Snippets, func(s engine.Snippet) SnippetJSON { return SnippetJSON(s) }),
				Score:        r.Score,
			}
		}),
		Total:         page.Total,
		OwnerFacets:   convertAll(page.OwnerFacets, func(o search.OwnerFacet) OwnerFacetJSON { return OwnerFacetJSON(o) }),
		DayFacets:     convertAll(page.DayFacets, func(d engine.DayCount) DayFacetJSON { return DayFacetJSON(d) }),
		NextPageToken: page.NextPageToken,
	})
}
