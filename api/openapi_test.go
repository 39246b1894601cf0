package api

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	yaml "go.yaml.in/yaml/v4"
)

// openAPI parses and validates the embedded document (examples against
// their schemas included).
func openAPI(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIYAML)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(ctx)
}

// The served JSON says exactly what openapi.yaml says: nothing lost or
// added on the way. (That every route is documented
// is tested in internal/app, where the routes are registered.)
func TestOpenAPIJSONIsTheYAML(t *testing.T) {
	served, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(OpenAPIYAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Through JSON, so both sides hold the same Go types.
	data, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(served, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the JSON document differs from openapi.yaml")
	}
	if again, _ := OpenAPIJSON(); &again[0] != &served[0] {
		t.Fatal("OpenAPIJSON converts again on every call")
	}
}

// Every example in the document matches its schema (the loader checks
// them), and operation ids are unique.
func TestOpenAPIValid(t *testing.T) {
	doc, err := openAPI(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if prev, ok := ids[op.OperationID]; ok {
				t.Errorf("operationId %q of %s %s is also %s's", op.OperationID, method, path, prev)
			}
			ids[op.OperationID] = method + " " + path
		}
	}
}
