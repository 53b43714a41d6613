// Package cross lists the platforms Petrel is built for and maps a Go build
// target (GOOS, GOARCH, GOARM) to the OCI platform an image index names
// (os/architecture/variant), for image selection.
//
// The target list is the file cross/targets, embedded here and read by the
// Makefile too, so that both keep to one list. It is parsed on first use;
// the package does no work at start-up.
package cross
