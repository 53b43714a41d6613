// Package version is the version applet and holds the build stamp that the
// Makefile sets with -ldflags -X.
package version

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// Set at link time by the Makefile.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Main prints the version, commit, Go version and platform.
func Main(args []string) int {
	return run(os.Stdout)
}

func run(w io.Writer) int {
	fmt.Fprintf(w, "petrel version %s\ncommit: %s\ngo: %s\nplatform: %s/%s\n", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
