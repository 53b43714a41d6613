// Package cgroups places containers in control groups and applies their
// linux.resources, on cgroup v1, v2 and hybrid hosts, without systemd.
//
// The host's layout (which hierarchies are mounted where) is probed once per
// process, lazily, on the first New. A Manager is not safe for concurrent use;
// separate Managers are. Device rules on cgroup v2 are enforced by an eBPF
// program assembled in Go and attached with bpf(2).
package cgroups
