#!/usr/bin/env bash
# Installs from Debian what Petrel's tests and benchmarks need, and prepares
# the host's cgroups for the runtimes they compare against. Idempotent: on a
# machine that has everything it installs nothing and mounts nothing.
# Must run as root. Go itself is not installed here (Debian's is too old).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "setup: must run as root" >&2; exit 1; }

pkgs=(
	# OCI runtimes and the runtime-tools validation suite (tests/validation)
	runc crun busybox-static tar util-linux coreutils file
	# networking tests
	iptables iproute2 containernetworking-plugins nftables
	# engines, image tools and a registry the benchmarks and compatibility tests use
	containerd docker.io podman conmon skopeo umoci docker-registry
	# cross-architecture runs, benchmarks, JSON in scripts, init script checks
	qemu-user-static hyperfine jq shellcheck
	# the Go toolchain's module downloads and git describe in the Makefile
	ca-certificates git make
)
# One dpkg-query for all: the packages not reported as installed are missing.
mapfile -t missing < <(
	dpkg-query -W -f '${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null |
		awk -v want="${pkgs[*]}" '$2 == "installed" { sub(/:.*/, "", $1); ok[$1] = 1 }
			END { n = split(want, w, " "); for (i = 1; i <= n; i++) if (!(w[i] in ok)) print w[i] }'
)
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || { echo "setup: the Go toolchain (go.mod's version) is not in PATH" >&2; exit 1; }

# cgroups. On a cgroup v1 "hybrid" host (tmpfs at /sys/fs/cgroup, the v2
# hierarchy at /sys/fs/cgroup/unified) crun refuses to run while a controller
# sits on the v2 hierarchy ("cgroups in hybrid mode not supported"), which is
# where hugetlb is when nothing mounted it as v1. Give hugetlb, and net_cls
# with net_prio (the validation suite's network tests), v1 hierarchies as a
# systemd host has them.
# mounted_v1 CONTROLLER succeeds when CONTROLLER has a v1 hierarchy mounted.
mounted_v1() {
	awk -v c="$1" '{ i = index($0, " - "); split(substr($0, i + 3), f, " ")
		if (f[1] != "cgroup") next
		n = split(f[3], o, ","); for (j = 1; j <= n; j++) if (o[j] == c) found = 1 }
		END { exit !found }' /proc/self/mountinfo
}
if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ]; then
	if grep -qw hugetlb /proc/cgroups && ! mounted_v1 hugetlb; then
		echo "setup: mounting the hugetlb cgroup v1 hierarchy"
		mkdir -p /sys/fs/cgroup/hugetlb
		mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
	fi
	if grep -qw net_cls /proc/cgroups && ! mounted_v1 net_cls && ! mounted_v1 net_prio; then
		echo "setup: mounting the net_cls,net_prio cgroup v1 hierarchy"
		mkdir -p /sys/fs/cgroup/net_cls,net_prio
		mount -t cgroup -o net_cls,net_prio cgroup /sys/fs/cgroup/net_cls,net_prio
		ln -sfn net_cls,net_prio /sys/fs/cgroup/net_cls
		ln -sfn net_cls,net_prio /sys/fs/cgroup/net_prio
	fi
fi
echo "setup: ok"
