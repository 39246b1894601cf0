package controller

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/clip"
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
		if more := unknown[1:]; len(more) > 0 {
			shown := make([]string, 0, maxNamed)
			for _, n := range more[:min(len(more), maxNamed)] {
				shown = append(shown, paramName(n))
			}
			detail += " (also unknown: " + strings.Join(shown, ", ")
			if len(more) > maxNamed {
				detail += fmt.Sprintf(" and %d more", len(more)-maxNamed)
			}
			detail += ")"
		}
		return errs.InvalidArgument(paramName(unknown[0]), "%s", detail)
	}
	if len(repeated) > 0 {
		slices.Sort(repeated)
		return errs.InvalidArgument(repeated[0], "is given %d times; it takes one value", len(values[repeated[0]]))
	}
	return nil
}

// notPlain reports whether r is not a character of a plain parameter name.
func notPlain(r rune) bool {
	plain := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-[]", r)
	return !plain
}

// maxNamed bounds the other unknown parameters an error names, and
// maxNameBytes the bytes of a name it repeats: a query string may be as
// long as the request line allows.
const (
	maxNamed     = 5
	maxNameBytes = 64
)

// paramName is a parameter name as an error names it: as sent when it is
// a plain name (letters, digits, _ . - [ ]), else quoted with its hidden
// characters escaped (`""` for a value without a name, ?=1), cut to
// maxNameBytes.
func paramName(name string) string {
	plain := name != "" && len(name) <= maxNameBytes && strings.IndexFunc(name, notPlain) < 0
	if plain {
		return name
	}
	return clip.Quote(name, maxNameBytes)
}
