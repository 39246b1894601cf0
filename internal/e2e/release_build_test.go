//go:build e2e

package e2e

import (
	"debug/buildinfo"
	"slices"
	"strings"
	"testing"
)

// TestReleaseBuildLeavesOutUnusedCode checks the shipped binary's build
// information: built static with the Makefile's tags, without urfave/cli's
// documentation writers and grpc-go's x/net/trace event log, whose markdown
// parser, html/template and /debug/requests handlers the service never uses
// but would map and initialise in every process.
func TestReleaseBuildLeavesOutUnusedCode(t *testing.T) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatalf("reading the build information of %s: %v", binary, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	tags := strings.Split(settings["-tags"], ",")
	for _, want := range []string{"osusergo", "netgo", "urfave_cli_no_docs", "grpcnotrace"} {
		if !slices.Contains(tags, want) {
			t.Errorf("release built with tags %q, without %s", settings["-tags"], want)
		}
	}
	if settings["CGO_ENABLED"] != "0" {
		t.Errorf("release built with CGO_ENABLED=%q, want 0", settings["CGO_ENABLED"])
	}
	for _, dep := range info.Deps {
		switch dep.Path {
		case "github.com/russross/blackfriday/v2", "github.com/cpuguy83/go-md2man/v2":
			t.Errorf("release binary links %s %s", dep.Path, dep.Version)
		}
	}
}
