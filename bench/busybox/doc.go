// Package busybox builds a minimal root filesystem from the host's static
// busybox (Debian's busybox-static) and its applet links, and packs it as an
// OCI bundle or as a docker-archive image, for Petrel's benchmarks and
// black-box tests against other engines. It reads the host's busybox only
// when asked; it has no package-level state.
package busybox
