// Pullbench compares pulling and unpacking one multi-layer image from a
// local registry with Petrel (`petrel image-tool pull`), with skopeo and
// umoci (`skopeo copy docker://… oci:…` then `umoci unpack`) and with podman
// (`podman pull`), interleaved so that the noise of a shared machine falls
// on all of them alike.
//
// It builds the image itself: a busybox layer from the host's busybox-static,
// a few small layers (one with a whiteout) and one large layer of
// incompressible-ish data (-layer-mb, 200 MiB by default), all gzip. It
// starts Debian's docker-registry on a free 127.0.0.1 port with its own
// config and storage, pushes the image there with skopeo, and then, for
// every iteration, runs each tool once into a fresh store or directory that
// it removes afterwards. It measures each process's wall time (start to
// reaped exit) and peak RSS (wait4's ru_maxrss: the process and the
// children it waited for), and prints medians and the ratios of each tool
// to Petrel, or the same as JSON with -json.
//
// ru_maxrss has a floor: a child starts on a copy of (with os/exec's vfork,
// on) the memory of the process that forked it, and the kernel records that
// memory's high-water mark as the child's at execve. So each command is
// started by a fresh, small spawner (this program again, which then reports
// the figures), not by the benchmark whose own peak grew while it built the
// image. The report gives the floor (the spawner's VmHWM); a figure at or
// below it says only "at most the floor".
//
// It needs root (podman's storage, the unpacked files' owners). Everything it
// starts and creates — the registry process, temporary directories, podman's
// storage and any mount under them — is removed when it exits, also after a
// failure or SIGINT/SIGTERM (-keep keeps the work directory).
//
// Usage:
//
//	pullbench [-n 5] [-warmup 1] [-layer-mb 200] [-tools petrel,skopeo+umoci,podman]
//	          [-petrel bin/petrel] [-json] [-keep]
package main
