// Package global holds app-wide facts: the service name, build information
// stamped in by the linker, and the running environment.
package global

import (
	"fmt"
	"io"
	"os"
	"runtime"

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
