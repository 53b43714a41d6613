// Package lcr is the petrel-runtime applet: an OCI runtime with runc's
// command-line contract, built on the oci packages.
package lcr

import (
	"fmt"
	"os"
)

// Main runs petrel-runtime with the arguments after its name.
func Main(args []string) int {
	fmt.Fprintln(os.Stderr, "petrel-runtime: no command")
	return 2
}
