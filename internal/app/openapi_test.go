package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/megaview/mgvcore/api"
	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/health"
	httpx "github.com/megaview/mgvcore/internal/http"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/metrics"
)

// routeRecorder passes every domain route on to the server and remembers
// the operation it was registered under.
type routeRecorder struct {
	controller.Router
	ops   map[string]string   // "GET /api/v1/conversations/:id" → operation
	query map[string][]string // "GET /api/v1/conversations/:id" → its query parameters
}

func (r *routeRecorder) Handle(method, path, operation string, h echo.HandlerFunc, query ...string) {
	r.ops[method+" "+path] = operation
	r.query[method+" "+path] = query
	r.Router.Handle(method, path, operation, h, query...)
}

// testServer is the HTTP server as Serve builds it, on the embedded stores
// of the development default, with every domain route registered.
type testServer struct {
	http   *httpx.Server
	health *health.Health
	// ops are the operations of the routes added by register, query
	// their query parameters.
	ops   map[string]string
	query map[string][]string
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Database.DSN = filepath.Join(dir, "mgvcore.db")
	cfg.Database.AutoMigrate = true
	cfg.Search.Path = filepath.Join(dir, "search")
	cfg.Search.Indexer = false
	cfg.Auth.JWTSecret = "openapi-test-secret-0123456789abcdef0123456789"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	tracer, log, err := startTracing(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	brk, err := breaker.NewRegistry(cfg.Breaker, log, m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	d, err := openDeps(cfg, tracer, brk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.close(log) })
	if err := migrateAtStart(t.Context(), cfg, d.db, log); err != nil {
		t.Fatal(err)
	}
	hl := health.New(time.Second)
	d.register(hl)
	pol, err := newPolicies(cfg, log, m, brk)
	if err != nil {
		t.Fatal(err)
	}
	pol.trace(tracer)
	dom, err := newDomain(cfg, log, d, pol)
	if err != nil {
		t.Fatal(err)
	}
	dom.search.health(hl)
	srv := httpx.New(httpx.Options{
		Config: cfg.HTTP, Log: log, Banner: io.Discard, Health: hl,
		Chain:   pol.chain(cfg.HTTP.RequestTimeout.Duration, cfg.HTTP.MaxBodyBytes),
		Metrics: m.Handler(),
	})
	rec := &routeRecorder{Router: srv, ops: map[string]string{}, query: map[string][]string{}}
	dom.register(rec, grpc.NewServer())
	t.Cleanup(dom.stop)
	return &testServer{http: srv, health: hl, ops: rec.ops, query: rec.query}
}

// echoParam is a path parameter in Echo's syntax.
var echoParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// openAPIPath turns an Echo route path into an OpenAPI path template.
func openAPIPath(p string) string { return echoParam.ReplaceAllString(p, "{$1}") }

// TestOpenAPIDocumentsEveryRoute keeps api/openapi.yaml true: every route
// the server registers is documented and every documented operation is
// registered, under the operation name the route shares with gRPC, with the
// security the auth policy applies, and with request and response schemas.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	ts := newTestServer(t)
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3: %v", err)
	}

	registered := map[string]string{} // "GET /api/v1/conversations/{id}" → Echo path
	for _, r := range ts.http.Echo().Routes() {
		if r.Path == httpx.DocsPath || strings.HasPrefix(r.Path, httpx.DocsPath+"/") {
			// The API reference and its static assets render this
			// document; they are not operations of the API it describes.
			continue
		}
		if strings.Contains(r.Path, "*") {
			t.Errorf("route %s %s: wildcards cannot be described in OpenAPI", r.Method, r.Path)
			continue
		}
		registered[r.Method+" "+openAPIPath(r.Path)] = r.Path
	}
	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	for _, key := range slices.Sorted(mapKeys(registered)) {
		if documented[key] == nil {
			t.Errorf("route %s is registered but not in api/openapi.yaml", key)
		}
	}
	for _, key := range slices.Sorted(mapKeys(documented)) {
		if _, ok := registered[key]; !ok {
			t.Errorf("api/openapi.yaml documents %s, which no route serves", key)
		}
	}
	if len(registered) < 20 {
		t.Errorf("only %d routes registered: %v", len(registered), slices.Sorted(mapKeys(registered)))
	}

	for _, key := range slices.Sorted(mapKeys(documented)) {
		op := documented[key]
		method, path, _ := strings.Cut(key, " ")
		checkOperation(t, key, method, op)

		// The operation name shared with gRPC, and the security the auth
		// policy applies to it.
		wantOp := ""
		if echoPath, ok := registered[key]; ok {
			wantOp = ts.ops[method+" "+echoPath]
		}
		if key == "GET /api/v1/ping" {
			wantOp = httpx.OperationPing
		}
		gotOp, _ := op.Extensions["x-mgv-operation"].(string)
		if gotOp != wantOp {
			t.Errorf("%s: x-mgv-operation is %q, the route is registered as %q", key, gotOp, wantOp)
		}
		if echoPath, ok := registered[key]; ok {
			query, system := httpx.SystemQuery[method+" "+echoPath]
			if !system {
				query = ts.query[method+" "+echoPath]
			}
			checkQueryParams(t, key, op, query)
		}
		api := strings.HasPrefix(path, "/api/")
		public := !api || publicOperations[wantOp]
		security := doc.Security
		if op.Security != nil {
			security = *op.Security
		}
		if public && len(security) != 0 {
			t.Errorf("%s needs no token, but the document asks for one (add security: [])", key)
		}
		if !public && (len(security) != 1 || security[0]["bearerAuth"] == nil) {
			t.Errorf("%s needs a bearer token, but the document has security %v", key, security)
		}
		if !public && op.Responses.Status(http.StatusUnauthorized) == nil {
			t.Errorf("%s needs a token but documents no 401", key)
		}
		if api && op.Responses.Status(http.StatusTooManyRequests) == nil {
			t.Errorf("%s is rate limited but documents no 429", key)
		}
	}
}

// checkQueryParams compares the query parameters an operation documents
// with those its route takes (Router.Handle), which refuses any other: the
// same names, and an array schema exactly where one may repeat.
func checkQueryParams(t *testing.T, key string, op *openapi3.Operation, registered []string) {
	t.Helper()
	documented := map[string]bool{} // name → may repeat
	for _, p := range op.Parameters {
		if p.Value == nil || p.Value.In != openapi3.ParameterInQuery {
			continue
		}
		s := p.Value.Schema
		documented[p.Value.Name] = s != nil && s.Value != nil && s.Value.Type.Is(openapi3.TypeArray)
	}
	taken := map[string]bool{}
	for _, q := range registered {
		name, many := controller.QueryParam(q)
		taken[name] = many
		switch many2, ok := documented[name]; {
		case !ok:
			t.Errorf("%s: the route takes query parameter %s, api/openapi.yaml does not document it", key, name)
		case many != many2:
			t.Errorf("%s: query parameter %s may repeat: route %v, document (array schema) %v", key, name, many, many2)
		}
	}
	for name := range documented {
		if _, ok := taken[name]; !ok {
			t.Errorf("%s: api/openapi.yaml documents query parameter %s, which the route refuses", key, name)
		}
	}
}

// checkOperation asks for what every operation documents: an id, a success
// response and a schema for every response body, and for a JSON request
// body exactly where the method carries one.
func checkOperation(t *testing.T, key, method string, op *openapi3.Operation) {
	t.Helper()
	if op.OperationID == "" || op.Summary == "" {
		t.Errorf("%s: operationId and summary are required", key)
	}
	if op.Responses.Len() == 0 {
		t.Errorf("%s: no responses", key)
	}
	success := false
	for status, ref := range op.Responses.Map() {
		success = success || strings.HasPrefix(status, "2")
		if ref.Value == nil || len(ref.Value.Content) == 0 {
			t.Errorf("%s: response %s has no content", key, status)
			continue
		}
		for media, mt := range ref.Value.Content {
			if mt.Schema == nil || mt.Schema.Value == nil {
				t.Errorf("%s: response %s %s has no schema", key, status, media)
			}
		}
	}
	if !success {
		t.Errorf("%s: no 2xx response", key)
	}
	if op.Responses.Default() == nil {
		t.Errorf("%s: no default (error envelope) response", key)
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		body := op.RequestBody
		if body == nil || body.Value == nil {
			t.Errorf("%s: the requestBody is missing", key)
			return
		}
		mt := body.Value.Content.Get(echo.MIMEApplicationJSON)
		if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
			t.Errorf("%s: the requestBody has no application/json schema", key)
		}
	default:
		if op.RequestBody != nil {
			t.Errorf("%s: a %s request has no body", key, method)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestOpenAPIServedAndTrue serves /openapi.json without a token and checks
// real answers of the server, errors included, against the document.
func TestOpenAPIServedAndTrue(t *testing.T) {
	ts := newTestServer(t)
	e := ts.http.Echo()
	serve := func(method, target, token string, body string) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, target, rd)
		if body != "" {
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		}
		if token != "" {
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}

	res := serve(http.MethodGet, httpx.OpenAPIPath, "", "")
	if res.Code != http.StatusOK || res.Header().Get(echo.HeaderContentType) != echo.MIMEApplicationJSON {
		t.Fatalf("GET %s: %d %s", httpx.OpenAPIPath, res.Code, res.Header().Get(echo.HeaderContentType))
	}
	want, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Body.Bytes(), want) {
		t.Fatal("the served document differs from api.OpenAPIJSON")
	}
	doc, err := openapi3.NewLoader().LoadFromData(res.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	router := testRouter(t, doc, "http://example.com")

	// check expects status and validates both sides; a request the
	// document rules out (validRequest false) must be refused.
	check := func(method, target, token, body string, status int, validRequest ...bool) {
		t.Helper()
		res := serve(method, target, token, body)
		if res.Code != status {
			t.Errorf("%s %s: %d, want %d: %s", method, target, res.Code, status, res.Body)
			return
		}
		valid := len(validRequest) == 0 || validRequest[0]
		validateExchange(t, router, method, "http://example.com"+target, body, valid, res.Code, res.Header(), res.Body.Bytes())
	}
	// Before the process is marked serving, /readyz is the 503 envelope.
	check(http.MethodGet, "/readyz", "", "", http.StatusServiceUnavailable)
	ts.health.Serving()
	check(http.MethodGet, "/readyz", "", "", http.StatusOK)
	check(http.MethodGet, "/healthz", "", "", http.StatusOK)
	check(http.MethodGet, "/metrics", "", "", http.StatusOK)
	check(http.MethodGet, "/api/v1/ping", "", "", http.StatusOK)

	// The API reference is served without a token, its assets embedded.
	for target, ctype := range map[string]string{
		httpx.DocsPath:                           "text/html; charset=utf-8",
		httpx.DocsPath + "/":                     "text/html; charset=utf-8",
		httpx.DocsPath + "/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		httpx.DocsPath + "/init.js":              "text/javascript; charset=utf-8",
		httpx.DocsPath + "/swagger-ui.css":       "text/css; charset=utf-8",
		httpx.DocsPath + "/favicon-32x32.png":    "image/png",
	} {
		res := serve(http.MethodGet, target, "", "")
		if res.Code != http.StatusOK || res.Header().Get(echo.HeaderContentType) != ctype || res.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", target, res.Code, res.Header().Get(echo.HeaderContentType), res.Body.Len())
		}
	}
	if res := serve(http.MethodGet, httpx.DocsPath, "", ""); !strings.Contains(res.Body.String(), `src="/docs/swagger-ui-bundle.js"`) {
		t.Errorf("GET %s does not load the embedded bundle", httpx.DocsPath)
	}
	check(http.MethodGet, "/api/v1/ping", "not-a-token", "", http.StatusOK)
	check(http.MethodPost, "/api/v1/auth/login", "", `{"account":"nobody@example.com","password":"wrong password"}`, http.StatusUnauthorized)
	check(http.MethodPost, "/api/v1/auth/login", "", `{"account":" ","password":"x"}`, http.StatusBadRequest, false)
	check(http.MethodPost, "/api/v1/auth/login", "", `{"account":"a@example.com"}`, http.StatusBadRequest, false)
	check(http.MethodPost, "/api/v1/auth/refresh", "", `{"refresh_token":"spent"}`, http.StatusUnauthorized)
	check(http.MethodGet, "/api/v1/me", "", "", http.StatusUnauthorized)
	check(http.MethodGet, "/api/v1/conversations?page_size=5", "bad-token", "", http.StatusUnauthorized)
	check(http.MethodGet, "/api/v1/conversations/12", "", "", http.StatusUnauthorized)
	check(http.MethodPost, "/api/v1/search", "", `{"query":"预算"}`, http.StatusUnauthorized)

	// A query parameter the operation does not document is refused, named,
	// after the token is checked; so is a malformed query string.
	check(http.MethodGet, "/api/v1/ping?limit=5", "", "", http.StatusBadRequest)
	check(http.MethodPost, "/api/v1/auth/login?debug=1", "", `{"account":"nobody@example.com","password":"wrong password"}`, http.StatusBadRequest)
	check(http.MethodGet, "/api/v1/conversations?limit=5", "bad-token", "", http.StatusUnauthorized)
	res = serve(http.MethodGet, "/api/v1/ping?page_size=1&limit=5&offset=2", "", "")
	if !strings.Contains(res.Body.String(), `"msg":"limit: not a query parameter of this operation, which takes none (also unknown: offset, page_size)"`) {
		t.Errorf("GET /api/v1/ping with unknown parameters: %d %s", res.Code, res.Body)
	}
	res = serve(http.MethodGet, "/api/v1/ping?a=%zz", "", "")
	if res.Code != http.StatusBadRequest || !strings.Contains(res.Body.String(), `query: the query string is malformed: invalid URL escape \"%zz\"`) {
		t.Errorf("GET /api/v1/ping?a=%%zz: %d %s", res.Code, res.Body)
	}
}

// testRouter finds the operation of a request to base.
func testRouter(t *testing.T, doc *openapi3.T, base string) routers.Router {
	t.Helper()
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return router
}

// validateExchange checks a request and its answer against the document.
func validateExchange(t *testing.T, router routers.Router, method, url, body string, validRequest bool, status int, header http.Header, respBody []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: not in the document: %v", method, url, err)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	switch err := openapi3filter.ValidateRequest(req.Context(), in); {
	case validRequest && err != nil:
		t.Errorf("%s %s: the request does not match the document: %v", method, url, err)
	case !validRequest && err == nil:
		t.Errorf("%s %s: the server refuses the request (%d), the document allows it", method, url, status)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	if err := openapi3filter.ValidateResponse(req.Context(), out.SetBodyBytes(respBody)); err != nil {
		t.Errorf("%s %s: the %d answer does not match the document: %v\n%s", method, url, status, err, respBody)
	}
}
