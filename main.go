// Command petrel is the Petrel container engine: one busybox-style binary
// that becomes the daemon, the client, the shim, the OCI runtime and the CNI
// plugins depending on the name it is called by or its first argument.
package main

import (
	"os"

	"github.com/petrel-edge/petrel/applets"
)

func main() {
	os.Exit(applets.Dispatch(os.Args))
}
