// Enginebench compares the container lifecycle of Petrel (petreld and the
// petrel client) with Docker (dockerd on containerd, from Debian) and
// podman: create, start, stop, rm and `run --rm IMAGE true`, one at a time
// and many at once, and the host memory each engine costs, idle and per
// running container.
//
// It starts every engine itself with private directories under a
// temporary work directory: petreld with its own root, state and socket;
// containerd and dockerd with their own roots, states, sockets and
// namespaces (no bridge, no iptables rules); podman with its own storage,
// run root and network config. Each loads one busybox image built from
// the host's busybox-static (no network needed). Every container has
// --network none, so that the figures are the engines' own lifecycle.
//
// Memory comes first, on the fresh daemons: the PSS of the daemons idle
// (petreld; dockerd + containerd; podman has none), then with -containers
// sleeping containers running, the PSS of the per-container host processes
// (petrel-shim, containerd-shim-runc-v2, conmon; not the containers' own
// processes) and the daemons' growth, per container.
//
// Then -n iterations of the one-at-a-time cycle, each engine once per
// iteration, round-robin with a rotating start: create a container whose
// PID 1 exits on SIGTERM, start, stop (once, untimed, its logs say its
// trap is set), rm, and one `run --rm IMAGE true`;
// each client call is timed from fork to reaped exit. Then -rounds rounds
// of the same phases with -c clients at once, each phase timed from the
// first client's start to the last one's exit. It prints medians, p90s,
// the ratios of the others to the first engine (the subject) and its
// speed-up over the faster of the others against the goals, or the same
// as JSON with -json; -o also writes the JSON report to a file.
//
// With -network, each engine also gets a default network of its own (petrel
// and docker a bridge and a /24 of 10.200-249.x.0 each, docker without
// iptables rules, which it adds only for published ports; podman its
// default network podman, 10.88.0.0/16), and every iteration also times
// `run --rm IMAGE true` on it. The report then says what the network adds
// to each engine's `run --rm` (difference of the medians), the ratios to
// the subject's, and whether the subject's is under half of the faster
// other's (the goal of issue 5).
//
// It needs root. An engine that is not installed is skipped with a
// message; a failed iteration or round is reported with the failing
// command and its stderr and not counted, and the engine is dropped after
// more than -tolerate of them (exit code 1). Everything it starts and
// creates is stopped and removed when it ends, also on SIGINT or SIGTERM
// (-keep keeps the work directory with the engines' logs).
//
// Usage:
//
//	enginebench [-n 10] [-warmup 1] [-c 100] [-rounds 1] [-containers 50]
//	            [-engines petrel,docker,podman] [-petrel bin/petrel]
//	            [-docker /usr/bin/docker] [-podman podman] [-network] [-json] [-o FILE] [-keep]
package main
