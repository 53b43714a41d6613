// Package reference parses image references such as "busybox",
// "127.0.0.1:5000/team/app:v1" or "alpine@sha256:…" and normalises them the
// way Docker does: the default registry is docker.io, single-name
// repositories there live under library/, and the default tag is latest.
// It has no state and does no I/O.
package reference
