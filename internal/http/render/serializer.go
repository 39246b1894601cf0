package render

import (
	gojson "github.com/goccy/go-json"
	"github.com/labstack/echo/v4"
)

// Serializer is Echo's JSON serializer for the service: answers are encoded
// with goccy/go-json, which writes what encoding/json writes (sorted map
// keys, HTML-safe escaping, the same numbers) at a fraction of its cost on
// every response; requests are still decoded by Echo's default, whose
// errors the API's messages build on.
type Serializer struct{ echo.DefaultJSONSerializer }

// Serialize writes i as JSON, indented when indent is set.
func (Serializer) Serialize(c echo.Context, i any, indent string) error {
	enc := gojson.NewEncoder(c.Response())
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}
