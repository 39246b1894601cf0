// Package api holds the public contracts of mgvcore: the gRPC protos under
// proto/ and the OpenAPI 3 description of the HTTP API, openapi.yaml, which
// is written by hand, embedded here and served as JSON at /openapi.json.
// Tests keep it valid OpenAPI 3 (here) and true to the registered routes
// (internal/app); the service itself only converts it, so the OpenAPI
// library stays out of the binary.
package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	yaml "go.yaml.in/yaml/v4"
)

// OpenAPIYAML is openapi.yaml as written.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// OpenAPIJSON is the document as JSON, converted on the first call; later
// calls share the result.
var OpenAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(OpenAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	return data, nil
})
