// Command petrel is the Petrel container engine: one busybox-style binary
// that becomes the daemon, the client, the shim, the OCI runtime and the CNI
// plugins depending on the name it is called by or its first argument.
//
// GOMAXPROCS is not derived from the cgroup CPU limit, nor updated when it
// changes: the short-lived runtime and CNI applets gain nothing from it,
// and the shims would each run a goroutine re-reading cgroup files.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"os"
	"runtime"
	"strings"

	"github.com/petrel-edge/petrel/applets"
)

func main() {
	// No applet writes a heap profile unless asked to with GODEBUG.
	// Sampling would allocate the profiler's 1.4 MiB hash table at the
	// first sample and dirty a page of it for each (petreld's shims get
	// GODEBUG=memprofilerate=0, which applies before any package is
	// initialised).
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 0
	}
	os.Exit(applets.Dispatch(os.Args))
}
