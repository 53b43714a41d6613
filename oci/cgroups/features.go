package cgroups

import "github.com/opencontainers/runtime-spec/specs-go/features"

// Features describes the cgroup support built in, for the runtime's
// `features` command: v1 and v2, no systemd driver, rdma limits.
func Features() *features.Cgroup {
	yes, no := true, false
	return &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &yes}
}
