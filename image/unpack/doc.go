// Package unpack applies image layers (tar streams, plain or compressed
// with gzip or zstd) to a directory, safely against hostile layers: every
// path is resolved inside the target root (openat2 RESOLVE_IN_ROOT where
// the kernel has it, an equivalent walk of O_NOFOLLOW opens where not),
// entries that climb out with "..", relative symlinks that point above the
// root and hard links to outside files are refused, and absolute symlinks
// are followed as if the root were "/". Whiteouts are either applied
// (deleting from a flattened rootfs) or written as overlayfs whiteouts
// (for a layer's own diff directory). The package keeps no state.
package unpack
