// Package archive copies files out of and into a container's root
// filesystem as tar streams (the engine's cp). Every path is resolved
// inside the root: with openat2(RESOLVE_IN_ROOT) where the kernel has it
// (Linux 5.6), else through securepath; files are then opened one
// component at a time with O_NOFOLLOW, so neither a symlink in the
// container nor one in the archive leads outside the root.
package archive
