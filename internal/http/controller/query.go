package controller

import (
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
)

// manySuffix marks a query parameter that may be given more than once
// (Many).
const manySuffix = "*"

// Many names a query parameter that may be given more than once, as
// owner_id=1&owner_id=2; every other parameter takes one value.
func Many(name string) string { return name + manySuffix }

// QueryParam reads a name given to Router.Handle: the parameter's name and
// whether it may be repeated.
func QueryParam(declared string) (name string, many bool) {
	name, many = strings.CutSuffix(declared, manySuffix)
	return name, many
}

// OnlyQuery wraps h so that a request is refused (400 INVALID_ARGUMENT,
// naming the parameter) before h runs when its query string is not one h
// reads in full: malformed (a bad escape, a semicolon, which url.Values
// would drop without a word), naming a parameter the operation does not
// take (limit for page_size, cursor for page_token), or giving twice a
// parameter that takes one value. A client mistaken about the API then
// learns it at once, rather than getting the first page with the defaults
// or a filter it did not ask for. query is what the route takes, as given
// to Router.Handle.
//
// It runs after the policy chain, so a caller without a valid token is
// told that first, and costs nothing on a request without a query string.
func OnlyQuery(h echo.HandlerFunc, query []string) echo.HandlerFunc {
	takes := make(map[string]bool, len(query)) // name → may repeat
	names := make([]string, 0, len(query))
	for _, q := range query {
		name, many := QueryParam(q)
		takes[name] = many
		names = append(names, name)
	}
	slices.Sort(names)
	accepted := "none"
	if len(names) > 0 {
		accepted = strings.Join(names, ", ")
	}
	return func(c echo.Context) error {
		raw := c.Request().URL.RawQuery
		if raw == "" {
			return h(c)
		}
		if err := checkQuery(raw, takes, accepted); err != nil {
			return err
		}
		return h(c)
	}
}

// checkQuery is OnlyQuery's check of one query string.
func checkQuery(raw string, takes map[string]bool, accepted string) error {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return errs.InvalidArgument("query", "the query string is malformed: %v (escape reserved characters as %%XX, separate parameters with &)", err)
	}
	var unknown, repeated []string
	for name, v := range values {
		many, ok := takes[name]
		switch {
		case !ok:
			unknown = append(unknown, name)
		case !many && len(v) > 1:
			repeated = append(repeated, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		detail := "not a query parameter of this operation, which takes " + accepted
		if len(unknown) > 1 {
			detail += " (also unknown: " + strings.Join(quoteAll(unknown[1:]), ", ") + ")"
		}
		return errs.InvalidArgument(quoteName(unknown[0]), "%s", detail)
	}
	if len(repeated) > 0 {
		slices.Sort(repeated)
		return errs.InvalidArgument(repeated[0], "is given %d times; it takes one value", len(values[repeated[0]]))
	}
	return nil
}

// quoteName is a parameter name as the error names it: as sent, or "" when
// the query has a value with no name (?=1).
func quoteName(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = quoteName(n)
	}
	return out
}
