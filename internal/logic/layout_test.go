// Package logic_test checks the shape of the use-case layer: each area
// imports only the areas below it, and none knows of the database, the
// transports or HTTP.
package logic_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/megaview/mgvcore/"

// areas lists each logic package with the logic packages it may import; the
// order is the dependency order, from the bottom up.
var areas = map[string][]string{
	"access":            nil,
	"access/accesstest": {"access"},
	"interaction":       nil,
	"audit":             {"access"},
	"events":            {"access"},
	"identity":          {"access", "audit"},
	"conversation":      {"access", "interaction", "events"},
	"tracker":           {"access", "conversation", "interaction", "events"},
	"search":            {"access", "conversation"},
	"stats":             {"access"},
	"webhook":           {"access"},
	"privacy":           {"access", "identity", "events", "audit"},
}

// forbidden are imports no logic package or its own tests may have; only
// external test packages may open a database (daotest).
var forbidden = []string{
	module + "internal/dao",
	module + "api/proto",
	"github.com/labstack/echo",
	"google.golang.org/grpc",
	"net/http",
}

type listed struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func TestLogicImportsOnlyWhatItsLayerMay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"internal/logic/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for dec := json.NewDecoder(strings.NewReader(string(out))); dec.More(); {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		area := strings.TrimPrefix(p.ImportPath, module+"internal/logic/")
		if area == module+"internal/logic" {
			continue
		}
		seen[area] = true
		allowed, ok := areas[area]
		if !ok {
			t.Errorf("%s is not in the layer map of this test: add it with the areas it may import", area)
			continue
		}
		check := func(kind string, imports []string, mayOpenDB bool) {
			for _, imp := range imports {
				for _, f := range forbidden {
					if (imp == f || strings.HasPrefix(imp, f+"/")) && (!mayOpenDB || !strings.HasPrefix(imp, module+"internal/dao")) {
						t.Errorf("%s (%s) imports %s", area, kind, imp)
					}
				}
				if other, ok := strings.CutPrefix(imp, module+"internal/logic/"); ok && other != area && kind == "code" && !slices.Contains(allowed, other) {
					t.Errorf("%s imports %s, which is not below it", area, other)
				}
			}
		}
		check("code", p.Imports, false)
		check("tests", p.TestImports, false)
		check("external tests", p.XTestImports, true)
	}
	for area := range areas {
		if !seen[area] {
			t.Errorf("the layer map names %s, which go list does not know", area)
		}
	}
}
