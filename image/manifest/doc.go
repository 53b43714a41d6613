// Package manifest holds the OCI and Docker image formats: descriptors,
// image manifests (Docker schema 2, OCI), indexes (Docker manifest list,
// OCI index), image configs, and platform selection from an index. Parsing
// validates what later stages rely on, so that a hostile document fails
// here with a clear error. It has no state and does no I/O except reading
// /proc/cpuinfo once, lazily, for the ARM variant of the host.
package manifest
