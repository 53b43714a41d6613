// Runtimebench times OCI runtimes with runc's command line — petrel-runtime,
// runc and crun — on one busybox bundle, interleaved round-robin so that
// the noise of a shared machine falls on all of them alike.
//
// Per iteration and runtime, with a fresh container id and the runtime's own
// --root, it times:
//
//	run          `run` of a container whose process is `true` (create,
//	             start, exit and delete; a container that `run` leaves
//	             behind is deleted and that time counted too)
//	create       `create` of a container whose process is `sleep 1000`
//	start        `start` of it
//	state        `state` of the running container, -states times: the
//	             runtime's own start-up cost
//	kill+delete  `kill … KILL`, then, once the process is gone, `delete`
//
// the user and system CPU time of the `run` process (with the descendants
// it waited for: the container), and, in one more untimed `run`, the peak
// RSS of the runtime process (VmHWM at its exit, read under ptrace; see
// rss.go for why not wait4's ru_maxrss). It prints the
// median and p90 per operation and runtime and the ratios of the subject
// runtime to the others, or the same as JSON with -json.
//
// It needs root. Runtimes that are not installed are skipped. A failed
// iteration is reported with the failing command and its stderr and not
// counted; a runtime is dropped after its first failure, or after more than
// -tolerate of them.
// On a cgroup v1 hybrid host crun refuses to run while hugetlb is only on the
// v2 hierarchy; runtimebench mounts it as a v1 hierarchy at
// /sys/fs/cgroup/hugetlb first, and says so (-mount-hugetlb=false to not).
//
// Usage:
//
//	runtimebench [-n 20] [-warmup 2] [-states 10] [-tolerate 0] [-runtimes petrel,runc,crun]
//	             [-petrel bin/petrel] [-runc runc] [-crun crun] [-add name=path]…
//	             [-subject petrel] [-json]
//
// -add compares more runtimes in the same run, for example two builds of
// petrel: -add petrel-base=/tmp/petrel-before.
package main
