package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/policy"
)

// DecodeJSON decodes the JSON body of the request into v. No body leaves v
// as it is; a body of another media type is 415 UNSUPPORTED_MEDIA_TYPE; a
// value of the wrong JSON type is 400 INVALID_ARGUMENT naming its JSON path
// (e.g. "owner_ids[1]") in metadata.field and the JSON type it must be; so
// are a key repeated in its object and a string that is not UTF-8, which
// encoding/json would take as U+FFFD (scanBody; a key that is not UTF-8
// names no field).
// Messages speak of JSON only, never of the Go types behind it.
func DecodeJSON(c echo.Context, v any) error {
	req := c.Request()
	if req.ContentLength == 0 {
		return nil
	}
	if !isJSON(req.Header.Get(echo.HeaderContentType)) {
		return errs.New(http.StatusUnsupportedMediaType, errs.ReasonUnsupportedMediaType,
			"the body must be %s", echo.MIMEApplicationJSON)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The connection ended before the declared length: the
			// client went away in the middle of the request.
			return errs.New(policy.StatusClientClosed, errs.ReasonCanceled, "the client closed the connection before the whole body arrived").WithCause(err)
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			// The read deadline passed: the client is there but too slow.
			// net/http has canceled the request's context by now, so this
			// comes before ClientGone, which would take it for a client
			// that left and answer nothing.
			return errs.Of(errs.ReasonClientTimeout, "the body did not arrive within the read deadline").WithCause(err)
		}
		if gone := policy.ClientGone(req.Context(), err); gone != err {
			return gone
		}
		return errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument, "the body could not be read").WithCause(err)
	}
	if len(bytes.TrimSpace(body)) == 0 && req.ContentLength < 0 {
		return nil // a chunked request without a body
	}
	if jsonDepth(body) > MaxJSONDepth {
		return errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument,
			"the JSON body nests arrays and objects more than %d deep", MaxJSONDepth)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return decodeError(body, err)
	}
	switch at, fault := scanBody(body); fault {
	case repeatedKey:
		return errs.InvalidArgument(pathAt(body, int64(at)+1),
			"appears more than once in its object (keys that differ only in case are one key)")
	case badValueText:
		return fieldError(nil, pathAt(body, int64(at)+1), "%s", textFault(body, at))
	case badKeyText:
		return errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument, "a key of the body %s", textFault(body, at))
	}
	return nil
}

// MaxJSONDepth bounds how deeply a request body nests arrays and objects.
// No request of the API comes near it; a body that does is refused before
// it is decoded, so neither the decoder nor the naming of a bad field
// (walkJSON) does work in proportion to its depth.
const MaxJSONDepth = 64

// jsonDepth is how deeply body nests arrays and objects, counted up to
// MaxJSONDepth+1; brackets inside strings do not count. A body that is
// not JSON gets some depth, which decoding then refuses.
func jsonDepth(body []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case inString:
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				if deepest = depth; deepest > MaxJSONDepth {
					return deepest
				}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// isJSON tells whether a Content-Type header names application/json; its
// parameters (charset) do not matter.
func isJSON(header string) bool {
	media, _, err := mime.ParseMediaType(header)
	return err == nil && media == echo.MIMEApplicationJSON
}

// decodeError words a json.Unmarshal error for the client.
func decodeError(body []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &syntax) && syntax.Offset >= int64(len(bytes.TrimRightFunc(body, unicode.IsSpace))):
		return errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument,
			"the JSON body ends early: it is truncated or empty").WithCause(err)
	case errors.As(err, &syntax):
		return errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument,
			"the body is not valid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: ")).WithCause(err)
	case errors.As(err, &typ):
		field := typ.Field
		if typ.Offset > 0 {
			if p := pathAt(body, typ.Offset); p != "" {
				field = p
			}
		}
		return fieldError(err, field, "must be %s (got %s)", jsonType(typ.Type), gotValue(typ.Value))
	default:
		// time.Time's own decoder reports neither the field nor the
		// offset: the first time-named value that is not an RFC 3339
		// string is the one it refused.
		if field, got := badTimePath(body); field != "" {
			return fieldError(err, field, "must be an RFC 3339 date-time string such as 2026-03-01T08:00:00+08:00 (got %s)", got)
		}
		return errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument, "the JSON body cannot be decoded").WithCause(err)
	}
}

// fieldError is an INVALID_ARGUMENT about the JSON path field, or about the
// body as a whole when the path is not known.
func fieldError(cause error, field, format string, a ...any) error {
	if field == "" {
		return errs.New(http.StatusBadRequest, errs.ReasonInvalidArgument, "the body: "+format, a...).WithCause(cause)
	}
	return errs.InvalidArgument(field, format, a...).WithCause(cause)
}

// jsonType names the JSON type a Go type decodes from, with its article.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "another JSON type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 date-time string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "another JSON type"
	}
}

// gotValue words encoding/json's description of the value it found:
// "string", "number", "number 1.5", "bool", "array", "object".
func gotValue(v string) string {
	switch {
	case v == "bool":
		return "a boolean"
	case v == "array" || v == "object":
		return "an " + v
	case strings.HasPrefix(v, "number "):
		return "the number " + strings.TrimPrefix(v, "number ")
	case v == "":
		return "another JSON type"
	default:
		return "a " + v
	}
}

// pathAt is the JSON path (`a.b[2]`) of the innermost value of body that
// spans the byte offset encoding/json reports for a type error: the end of
// a scalar, or just after the opening bracket of an array or object.
func pathAt(body []byte, offset int64) string {
	var best []pathSegment
	walkJSON(body, func(path []pathSegment, start, end int64, _ json.Token, _ bool) {
		if start < offset && offset <= end {
			best = append(best[:0], path...) // later values are inner ones
		}
	})
	return joinPath(best)
}

// badTimePath is the JSON path of the first value of body whose key names
// a time (from, to, …_time, …_at) and that is neither null nor an RFC 3339
// string, and what it is; "" when there is none.
func badTimePath(body []byte) (path, got string) {
	walkJSON(body, func(p []pathSegment, _, _ int64, tok json.Token, container bool) {
		if path != "" || len(p) == 0 || !looksLikeTimeField(p[len(p)-1].key) {
			return
		}
		switch v := tok.(type) {
		case nil:
			if container {
				path, got = joinPath(p), "an array or an object"
			}
		case string:
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				path, got = joinPath(p), strconv.Quote(v)
			}
		case bool:
			path, got = joinPath(p), "a boolean"
		default:
			path, got = joinPath(p), "a number"
		}
	})
	return path, got
}

func looksLikeTimeField(key string) bool {
	return key == "from" || key == "to" || strings.HasSuffix(key, "_time") || strings.HasSuffix(key, "_at")
}

// pathSegment is one step of a JSON path: an object's key, or an array's
// index (index ≥ 0, key "").
type pathSegment struct {
	key   string
	index int
}

// joinPath spells a path as `a.b[2]`.
func joinPath(path []pathSegment) string {
	var b strings.Builder
	for _, s := range path {
		if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// walkJSON calls visit for every value of a well-formed body with its JSON
// path and the byte span it covers (start before any separator, end after
// the value), outer values before the values inside them: tok is the
// scalar (nil for null), container tells an array or an object. The path
// is valid during the call only; the walk keeps one path, a step per
// level, and spells none of it, so its cost grows with the body alone.
func walkJSON(body []byte, visit func(path []pathSegment, start, end int64, tok json.Token, container bool)) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var path []pathSegment
	var walk func() bool
	walk = func() bool {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			visit(path, start, dec.InputOffset(), tok, false)
			return true
		}
		// The span of a container is known only at its end; visit it
		// first with an open end so that inner values win in pathAt.
		visit(path, start, 1<<62, nil, true)
		for i := 0; dec.More(); i++ {
			step := pathSegment{index: i}
			if delim == '{' {
				key, err := dec.Token()
				if err != nil {
					return false
				}
				step = pathSegment{key: fmt.Sprint(key), index: -1}
			}
			path = append(path, step)
			if !walk() {
				return false
			}
			path = path[:len(path)-1]
		}
		_, err = dec.Token() // the closing bracket
		return err == nil
	}
	walk()
}
