#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite against several OCI runtimes in
# the same run, one validation program at a time for every runtime in turn,
# and compares petrel-runtime with runc. See README.md beside this file.
#
# Environment:
#   RUNTIMES          runtimes to test, space separated (default "runc petrel-runtime"):
#                     runc, crun, petrel-runtime (bin/petrel through a symlink of
#                     that name), or NAME=/path/to/binary
#   TESTS             validation programs to run (default: all of them)
#   VALIDATE_TIMEOUT  seconds one program may run against one runtime (default 90)
#   VALIDATE_BUDGET   seconds for all programs (default 2400); past it the remaining
#                     programs are not run and validate fails
#   VALIDATE_CACHE    build and work directory (default .cache/validation in the repo)
#   VALIDATE_RESULTS  where the TAP output goes (default $VALIDATE_CACHE/results)
#   VALIDATE_GATE     1 (default): exit 1 when petrel-runtime passes fewer programs or
#                     fewer assertions than runc; 0: report only
#   CI                "true": a missing prerequisite is an error, not a skipped runtime
set -euo pipefail

# Programs that give a container no mount namespace of its own make the
# runtime mount /proc, /dev and /sys of the bundle in the caller's namespace:
# run in a mount namespace of our own so that none of that reaches the host.
if [ "${PETREL_VALIDATE_MNTNS:-}" != 1 ] && [ "$(id -u)" = 0 ]; then
	PETREL_VALIDATE_MNTNS=1 exec unshare --mount --propagation unchanged "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VALIDATE_CACHE:-$repo/.cache/validation}
results=${VALIDATE_RESULTS:-$cache/results}
timeout_s=${VALIDATE_TIMEOUT:-90}
budget_s=${VALIDATE_BUDGET:-2400}
gate=${VALIDATE_GATE:-1}
runtimes=${RUNTIMES:-runc petrel-runtime}
ci=${CI:-false}

die() { echo "validate: $*" >&2; exit 1; }
note() { echo "validate: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (the runtimes create namespaces, mounts and cgroups)"
for tool in go tar timeout unshare busybox; do
	command -v "$tool" >/dev/null || die "$tool not found; run scripts/setup.sh"
done

# 1. Build runtimetest and the validation programs at the version pinned in
#    suite/go.mod (go.sum pins every dependency). Go's build cache makes a
#    rebuild with nothing changed take a second or two.
mkdir -p "$cache/bin"
(cd "$here/suite" && CGO_ENABLED=0 GOBIN="$cache/bin" GOFLAGS=-mod=readonly go install -trimpath tool) ||
	die "building the validation suite failed"
mapfile -t all_tests < <(cd "$here/suite" && GOFLAGS=-mod=readonly go list tool |
	sed -n 's|.*/runtime-tools/validation/||p' | sort)
[ ${#all_tests[@]} -gt 0 ] || die "no validation programs found in suite/go.mod"
if [ -n "${TESTS:-}" ]; then
	read -r -a tests <<<"$TESTS"
	for t in "${tests[@]}"; do
		[ -x "$cache/bin/$t" ] || die "unknown validation program $t"
	done
else
	tests=("${all_tests[@]}")
fi

# 2. The working directory the programs expect: ./runtimetest and
#    ./rootfs-amd64.tar.gz, a busybox rootfs made from Debian's busybox-static.
work=$cache/work
mkdir -p "$work"
cp "$cache/bin/runtimetest" "$work/runtimetest.new" && mv "$work/runtimetest.new" "$work/runtimetest"
arch=$(go env GOARCH)
rootfs=$work/rootfs-$arch.tar.gz
busybox=$(command -v busybox)
if [ ! -s "$rootfs" ] || [ "$busybox" -nt "$rootfs" ] || [ "$0" -nt "$rootfs" ]; then
	file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
		die "$busybox is not static; install busybox-static"
	stage=$(mktemp -d "$cache/rootfs.XXXXXX")
	mkdir -p "$stage"/{bin,dev,etc,proc,sys,tmp}
	chmod 1777 "$stage/tmp"
	cp "$busybox" "$stage/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
	done
	cat >"$stage/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		daemon:x:1:1:daemon:/usr/sbin:/bin/false
		bin:x:2:2:bin:/bin:/bin/false
		sys:x:3:3:sys:/dev:/bin/false
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$stage/etc/group" <<-'EOF'
		root:x:0:
		daemon:x:1:
		bin:x:2:
		sys:x:3:
		adm:x:4:
		tty:x:5:
		disk:x:6:
		wheel:x:10:root
		users:x:100:
		nogroup:x:65534:
	EOF
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$stage" -czf "$rootfs.new" .
	mv "$rootfs.new" "$rootfs"
	rm -rf "$stage"
fi

# 3. The runtimes. Each is called through a small wrapper that gives it its
#    own state directory (--root), so that leftovers of a failed or timed-out
#    program can be found and removed without touching anyone else's containers.
rtdir=$cache/runtimes
rm -rf "$rtdir"
mkdir -p "$rtdir"
names=()
declare -A wrapper state
for spec in $runtimes; do
	name=${spec%%=*}
	path=
	if [ "$spec" != "$name" ]; then
		path=${spec#*=}
	else
		case $name in
		petrel-runtime | petrel)
			name=petrel-runtime
			if [ -x "$repo/bin/petrel" ]; then
				ln -s "$repo/bin/petrel" "$rtdir/petrel-runtime"
				path=$rtdir/petrel-runtime
			fi
			;;
		*) path=$(command -v "$name" || true) ;;
		esac
	fi
	if [ -z "$path" ] || [ ! -x "$path" ]; then
		if [ "$ci" = true ]; then
			die "runtime $name not found (${path:-not in PATH}); run scripts/setup.sh / make build"
		fi
		note "skipping runtime $name: not found (${path:-not in PATH})"
		continue
	fi
	names+=("$name")
	state[$name]=$rtdir/$name.state
	mkdir -p "${state[$name]}"
	wrapper[$name]=$rtdir/$name.sh
	printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$path" "${state[$name]}" >"${wrapper[$name]}"
	chmod +x "${wrapper[$name]}"
done
[ ${#names[@]} -gt 0 ] || die "no runtime to test"

# umount_below DIR detaches every mount at or below DIR, deepest first.
umount_below() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# cleanup removes what a program left behind: containers in the runtime's own
# state directory, its temporary bundles, and the cgroups the suite names
# (/cgrouptest, and testdir/cgrouptest/container below the caller's cgroup or,
# for some runtimes, below the root).
cleanup() {
	local name=$1 tmp=$2 dir id
	for dir in "${state[$name]}"/*; do
		[ -e "$dir" ] || continue
		id=${dir##*/}
		"${wrapper[$name]}" kill "$id" KILL >/dev/null 2>&1 || true
		"${wrapper[$name]}" delete --force "$id" >/dev/null 2>&1 || true
		rm -rf "${state[$name]:?}/$id"
	done
	umount_below "$tmp"
	rm -rf --one-file-system "$tmp" || true
	local mp own d
	while IFS=$'\t' read -r mp own; do
		for d in "$mp/cgrouptest" "$mp/testdir" "$mp${own%/}/testdir"; do
			if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
		done
	done < <(cgroup_mounts)
}

# cgroup_mounts prints each cgroup mount point and, tab-separated, this
# process's cgroup in that hierarchy.
cgroup_mounts() {
	awk 'FNR == NR { i = index($0, ":"); r = substr($0, i + 1); j = index(r, ":")
		own[substr(r, 1, j - 1)] = substr(r, j + 1); next }
	{
		i = index($0, " - "); split(substr($0, i + 3), post, " ")
		if (post[1] == "cgroup2") { print $5 "\t" own[""]; next }
		if (post[1] != "cgroup") next
		n = split(post[3], opt, ",")
		for (k in own) {
			if (k == "") continue
			m = split(k, c, ",")
			for (a = 1; a <= m; a++) for (b = 1; b <= n; b++) if (c[a] == opt[b]) { print $5 "\t" own[k]; next }
		}
	}' /proc/self/cgroup /proc/self/mountinfo
}

# tapcount FILE RC prints "passed failed skipped planned" for a program's
# output and exit status. Only top-level "ok"/"not ok" lines count (nested
# output is indented). Some programs print several TAP streams (their plans
# add up), and the lifecycle programs report without assertions: "1..0",
# plus a YAML diagnostic with an "error" key when the runtime failed. Such an
# empty stream with an error counts as one failed assertion; a program that
# exits 0 with no assertion and no error counts as one passed assertion.
tapcount() {
	awk -v rc="$2" '
		function endstream() { if (instream && n == 0 && err) { f++; plan++ } n = 0; err = 0 }
		/^TAP version/ { endstream(); instream = 1; next }
		/^ok / { n++; if ($0 ~ /# [Ss][Kk][Ii][Pp]/) s++; else p++; next }
		/^not ok / { n++; if ($0 ~ /# TODO/) s++; else f++; next }
		/^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan += $0 + 0; next }
		/^    "error": / { err = 1 }
		END {
			endstream()
			if (p + f + s == 0 && rc == 0) { p = 1; plan = 1 }
			printf "%d %d %d %d\n", p, f, s, plan
		}' "$1"
}

# 4. Run every program against every runtime, interleaved.
rm -rf "$results"
mkdir -p "$results"
for name in "${names[@]}"; do mkdir -p "$results/$name"; done
declare -A verdict passed failed
start=$(date +%s)
note "${#tests[@]} programs x ${#names[@]} runtimes (${names[*]}), timeout ${timeout_s}s each, ${budget_s}s in all"
over_budget=
for t in "${tests[@]}"; do
	if [ -z "$over_budget" ] && [ $(($(date +%s) - start)) -ge "$budget_s" ]; then
		over_budget=$t
		note "over the ${budget_s}s budget: $t and the programs after it are not run"
	fi
	for name in "${names[@]}"; do
		if [ -n "$over_budget" ]; then
			verdict[$name/$t]=NOTRUN passed[$name/$t]=0 failed[$name/$t]=0
			printf '%s\t%s\tNOTRUN\n' "$t" "$name" >>"$results/summary.tsv"
			continue
		fi
		out=$results/$name/$t
		tmp=$cache/tmp/$name
		umount_below "$tmp"
		rm -rf --one-file-system "$tmp" || true
		mkdir -p "$tmp"
		t0=$(date +%s.%N)
		rc=0
		(cd "$work" && TMPDIR=$tmp RUNTIME=${wrapper[$name]} \
			timeout -k 10 "$timeout_s" "$cache/bin/$t" </dev/null >"$out.tap" 2>"$out.stderr") || rc=$?
		t1=$(date +%s.%N)
		cleanup "$name" "$tmp"
		read -r p f s plan < <(tapcount "$out.tap" "$rc")
		ran=$((p + f + s))
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			v=TIMEOUT
		elif [ $rc -ne 0 ] || [ "$f" -gt 0 ] || [ "$ran" -ne "$plan" ]; then
			v=FAIL
		elif [ "$p" -eq 0 ]; then
			v=SKIP
		else
			v=PASS
		fi
		verdict[$name/$t]=$v
		passed[$name/$t]=$p
		failed[$name/$t]=$f
		printf '%s\t%s\t%s\texit=%d\tok=%d\tnot_ok=%d\tskip=%d\tplan=%d\tseconds=%.1f\n' \
			"$t" "$name" "$v" "$rc" "$p" "$f" "$s" "$plan" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >>"$results/summary.tsv"
	done
done
elapsed=$(($(date +%s) - start))

# 5. The table: one row per program, "VERDICT ok/not-ok" per runtime.
w=32
printf '\n%-*s' $w program
for name in "${names[@]}"; do printf ' %-18s' "$name"; done
printf '\n'
declare -A prog_pass prog_fail prog_skip assert_pass assert_fail
for name in "${names[@]}"; do
	prog_pass[$name]=0 prog_fail[$name]=0 prog_skip[$name]=0 assert_pass[$name]=0 assert_fail[$name]=0
done
for t in "${tests[@]}"; do
	printf '%-*s' $w "$t"
	for name in "${names[@]}"; do
		v=${verdict[$name/$t]}
		printf ' %-7s %4d/%-5d' "$v" "${passed[$name/$t]}" "${failed[$name/$t]}"
		case $v in
		PASS) prog_pass[$name]=$((prog_pass[$name] + 1)) ;;
		SKIP) prog_skip[$name]=$((prog_skip[$name] + 1)) ;;
		*) prog_fail[$name]=$((prog_fail[$name] + 1)) ;;
		esac
		assert_pass[$name]=$((assert_pass[$name] + passed[$name/$t]))
		assert_fail[$name]=$((assert_fail[$name] + failed[$name/$t]))
	done
	printf '\n'
done
printf '%-*s' $w 'programs passed/failed/skipped'
for name in "${names[@]}"; do
	printf ' %-18s' "${prog_pass[$name]}/${prog_fail[$name]}/${prog_skip[$name]}"
done
printf '\n%-*s' $w 'assertions ok/not ok'
for name in "${names[@]}"; do printf ' %-18s' "${assert_pass[$name]}/${assert_fail[$name]}"; done
printf '\n\nTAP output: %s/<runtime>/<program>.tap (.stderr beside it); summary.tsv, table.md; %ds in all\n' "$results" "$elapsed"

# The same table in Markdown, for tests/validation/README.md.
{
	printf '| program |'
	for name in "${names[@]}"; do printf ' %s |' "$name"; done
	printf '\n|---|'
	for name in "${names[@]}"; do printf -- '---|'; done
	printf '\n'
	for t in "${tests[@]}"; do
		printf '| %s |' "$t"
		for name in "${names[@]}"; do
			printf ' %s %d/%d |' "${verdict[$name/$t]}" "${passed[$name/$t]}" "${failed[$name/$t]}"
		done
		printf '\n'
	done
	printf '| **programs passed/failed** |'
	for name in "${names[@]}"; do printf ' **%d/%d** |' "${prog_pass[$name]}" "${prog_fail[$name]}"; done
	printf '\n| **assertions ok/not ok** |'
	for name in "${names[@]}"; do printf ' **%d/%d** |' "${assert_pass[$name]}" "${assert_fail[$name]}"; done
	printf '\n'
} >"$results/table.md"

# 6. The gate: petrel-runtime must pass at least as many whole programs AND at
#    least as many assertions as runc passed in this same run.
status=0
if [ -n "$over_budget" ]; then
	echo "the programs from $over_budget on were not run: over the ${budget_s}s budget"
	[ "$gate" = 0 ] || status=1
fi
if [ -n "${verdict[petrel-runtime/${tests[0]}]:-}" ] && [ -n "${verdict[runc/${tests[0]}]:-}" ]; then
	worse=()
	for t in "${tests[@]}"; do
		if [ "${verdict[runc/$t]}" = PASS ] && [ "${verdict[petrel-runtime/$t]}" != PASS ]; then
			worse+=("$t")
		fi
	done
	[ ${#worse[@]} -eq 0 ] || echo "petrel-runtime fails where runc passes: ${worse[*]}"
	if [ "${prog_pass[petrel-runtime]}" -lt "${prog_pass[runc]}" ] ||
		[ "${assert_pass[petrel-runtime]}" -lt "${assert_pass[runc]}" ]; then
		echo "petrel-runtime passes fewer than runc: programs ${prog_pass[petrel-runtime]} < ${prog_pass[runc]} or assertions ${assert_pass[petrel-runtime]} < ${assert_pass[runc]}"
		[ "$gate" = 0 ] || status=1
	else
		echo "petrel-runtime passes at least as many programs and assertions as runc"
	fi
elif [ "$ci" = true ] && [ "$gate" != 0 ]; then
	die "the comparison needs both runc and petrel-runtime in RUNTIMES"
fi
last=${names[-1]}
for name in "${names[@]}"; do
	[ "$name" = petrel-runtime ] && last=$name
done
# Last line: the programs of petrel-runtime (else of the last runtime).
printf '%s: %d passed, %d failed, %d skipped\n' "$last" "${prog_pass[$last]}" "${prog_fail[$last]}" "${prog_skip[$last]}"
exit $status
