// Package api holds the public contracts of mgvcore: the gRPC protos under
// proto/ and the OpenAPI 3 description of the HTTP API, openapi.yaml, which
// is written by hand, embedded here and served as JSON at /openapi.json.
// A test in internal/app keeps it true to the registered routes.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// OpenAPIYAML is openapi.yaml as written.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// OpenAPI parses and validates the embedded document. Each call returns a
// new document the caller may change.
func OpenAPI(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	return doc, nil
}

// OpenAPIJSON is the validated document as JSON, converted on the first
// call; later calls share the result.
var OpenAPIJSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := OpenAPI(context.Background())
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
})
