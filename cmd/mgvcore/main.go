// Command mgvcore is the Megaview conversation-intelligence core service.
package main

import (
	"context"
	"os"

	"github.com/megaview/mgvcore/internal/command"
)

func main() {
	os.Exit(command.Main(context.Background(), os.Args, os.Stdout, os.Stderr))
}
