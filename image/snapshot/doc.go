// Package snapshot keeps unpacked image layers by chain ID and gives
// containers their root filesystems. With the overlay driver each layer is
// a read-only directory holding its own diff, and a container's rootfs is
// an overlayfs of the layer stack with a writable upper directory of its
// own. Where overlayfs is missing (or for tests without root) the copy
// driver keeps a full, flattened tree per layer and copies it for each
// container. Layers appear atomically (unpacked into a temporary
// directory, then renamed). A Snapshotter is safe for concurrent use on
// distinct keys; callers serialise work on the same key.
package snapshot
