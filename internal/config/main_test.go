package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// shippedDir is the repository's config directory, where the shipped
// files are read from.
var shippedDir string

// TestMain runs the tests in a temporary directory: parsing
// config_dev.toml creates its auth.jwt_secret_file, data/jwt_secret,
// which must not land in the source tree.
func TestMain(m *testing.M) {
	os.Exit(runInTempDir(m))
}

func runInTempDir(m *testing.M) int {
	dir, err := filepath.Abs(filepath.Join("..", "..", "config"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	shippedDir = dir
	tmp, err := os.MkdirTemp("", "config-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // a temporary directory
	if err := os.Chdir(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// devFile is a config file of env dev: body, then the [app] table every
// file must have (after body, so that body's line numbers hold).
func devFile(body string) []byte { return []byte(body + "\n[app]\nenv = \"dev\"\n") }
