// Package engine is Petrel's container engine: container records
// persisted atomically under the root, their lifecycle (create, start,
// stop, kill, restart, pause, remove, rename, wait), restart policies,
// events, logs and attach streams, through one petrel-shim per running
// container; and live restore, re-attaching to the shims a previous
// daemon left running. Containers run from images of the engine's image
// store (<root>/image, opened on first use), each on its own writable
// layer mounted at <root>/containers/<id>/rootfs, or from an external
// root filesystem. It knows neither HTTP nor the command line.
//
// An Engine is safe for concurrent use: operations on one container are
// serialised, operations on different containers run in parallel.
package engine
