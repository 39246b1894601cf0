// Package global holds app-wide facts: the service name, build information
// stamped in by the linker, and the running environment.
package global

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"google.golang.org/grpc"
)

// Name is the service name used for logs, traces and service registration.
const Name = "mgvcore"

// Build information, set with -ldflags "-X github.com/megaview/mgvcore/global.GitCommit=…".
// They stay "unknown" under `go run`.
var (
	GitCommit  = "unknown"
	GitRelease = "unknown"
	BuildTime  = "unknown"
)

// Environments a config file may name.
const (
	EnvDev  = "dev"
	EnvTest = "test"
	EnvPro  = "pro"
)

// Version is the release when known, otherwise the commit.
func Version() string {
	if GitRelease != "unknown" && GitRelease != "" {
		return GitRelease
	}
	return GitCommit
}

// CommitHash is the commit's hash alone: the first word of GitCommit (which
// the Makefile stamps as "<hash> <subject>"), else the VCS revision Go
// recorded in the binary, else "unknown".
func CommitHash() string {
	if f := strings.Fields(GitCommit); len(f) > 0 && GitCommit != "unknown" {
		return f[0]
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return s.Value[:7]
			}
		}
	}
	return "unknown"
}

// GoVersion is the Go release the binary was built with.
func GoVersion() string { return runtime.Version() }

// BuildInfo is the build information as ordered key/value pairs, for a
// structured log line.
func BuildInfo(env string) [][2]string {
	return [][2]string{
		{"git_commit", GitCommit},
		{"git_release", GitRelease},
		{"build_time", BuildTime},
		{"go_version", runtime.Version()},
		{"grpc_version", grpc.Version},
		{"env", env},
	}
}

// PrintBuildInfo writes the Build Info block of the design notes.
// The block is informational: a console that cannot take it is no reason to
// stop, so a failed write is not reported.
func PrintBuildInfo(w io.Writer, env string) {
	_, _ = fmt.Fprintf(w, "Build Info:\n"+
		"\tGit Commit Log: %s\n"+
		"\tGit Release Info: %s\n"+
		"\tBuild Time: %s\n"+
		"\tGo Version: %s\n"+
		"\tgRPC Version: %s\n"+
		"\tPID: %d\n"+
		"\tEnvironment: %s\n",
		GitCommit, GitRelease, BuildTime, runtime.Version(), grpc.Version, os.Getpid(), env)
}
