package controller

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
)

func TestOnlyQuery(t *testing.T) {
	e := echo.New()
	ran := 0
	list := OnlyQuery(func(c echo.Context) error {
		ran++
		return c.NoContent(http.StatusNoContent)
	}, []string{"page_token", Many("owner_id"), "page_size"})
	none := OnlyQuery(func(echo.Context) error { ran++; return nil }, nil)

	for _, tc := range []struct {
		h       echo.HandlerFunc
		query   string
		field   string // "" when h runs
		message string
	}{
		{h: list, query: ""},
		{h: list, query: "page_size=5&page_token=abc"},
		{h: list, query: "owner_id=1&owner_id=2,3&page_size="},
		{h: list, query: "page_size=5&&"},
		{h: none, query: ""},
		{h: list, query: "limit=5", field: "limit",
			message: "limit: not a query parameter of this operation, which takes owner_id, page_size, page_token"},
		{h: list, query: "page_size=5&offset=10&limit=5&cursor=x", field: "cursor",
			message: "cursor: not a query parameter of this operation, which takes owner_id, page_size, page_token (also unknown: limit, offset)"},
		{h: list, query: "Page_Size=5", field: "Page_Size"},
		{h: list, query: "page%5Fsize=5&x%20y=1", field: `"x y"`},
		{h: list, query: "=5", field: `""`,
			message: `"": not a query parameter of this operation, which takes owner_id, page_size, page_token`},
		{h: list, query: "%00=1&%E2%80%AEevil=2", field: `"\x00"`,
			message: `"\x00": not a query parameter of this operation, which takes owner_id, page_size, page_token (also unknown: "\u202eevil")`},
		{h: list, query: strings.Repeat("n", 300) + "=1", field: `"` + strings.Repeat("n", 64) + `"…`},
		{h: list, query: "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1", field: "a",
			message: "a: not a query parameter of this operation, which takes owner_id, page_size, page_token (also unknown: b, c, d, e, f and 2 more)"},
		{h: none, query: "page_size=5", field: "page_size",
			message: "page_size: not a query parameter of this operation, which takes none"},
		{h: list, query: "page_size=5&page_size=500", field: "page_size",
			message: "page_size: is given 2 times; it takes one value"},
		{h: list, query: "page_token=a&page_size=1&page_token=b&page_token=c", field: "page_token",
			message: "page_token: is given 3 times; it takes one value"},
		{h: list, query: "page_size=%zz", field: "query",
			message: `query: the query string is malformed: invalid URL escape "%zz" (escape reserved characters as %XX, separate parameters with &)`},
		{h: list, query: "page_size=5;page_token=x", field: "query"},
	} {
		ran = 0
		req := httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil)
		if tc.query == "" {
			req = httptest.NewRequest(http.MethodGet, "/x", nil)
		}
		err := tc.h(e.NewContext(req, httptest.NewRecorder()))
		if tc.field == "" {
			if err != nil || ran != 1 {
				t.Errorf("?%s: %v, handler ran %d times; want it to run once", tc.query, err, ran)
			}
			continue
		}
		e := errs.From(err)
		if err == nil || e.Status != http.StatusBadRequest || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != tc.field {
			t.Errorf("?%s: %v, want INVALID_ARGUMENT naming %s", tc.query, err, tc.field)
		} else if tc.message != "" && e.Message != tc.message {
			t.Errorf("?%s: %q\nwant %q", tc.query, e.Message, tc.message)
		}
		if ran != 0 {
			t.Errorf("?%s: the handler ran on a refused query", tc.query)
		}
	}
}

func TestQueryParam(t *testing.T) {
	if name, many := QueryParam(Many("owner_id")); name != "owner_id" || !many {
		t.Errorf("Many: %q %v", name, many)
	}
	if name, many := QueryParam("page_size"); name != "page_size" || many {
		t.Errorf("one value: %q %v", name, many)
	}
}
