#!/usr/bin/env bash
# cross-test.sh TARGET… tests foreign targets of cross/targets under
# emulation. A target with a whole-target entry in cross/emulation-skip is
# skipped with its reason; for each of the others it runs:
#   1. the unit tests, cross-compiled (CGO_ENABLED=0, GOARCH/GOARM) and run
#      under qemu-user through go test -exec qemu-<arch>-static, less the
#      entries of cross/emulation-skip (each printed as SKIP);
#   2. bin/petrel-linux-TARGET version under qemu-user, which must name the
#      target's platform;
#   3. as root, petrel-runtime run of a bundle for that architecture (see
#      cross/README.md): the host's runtime with the full set of namespaces,
#      the container's init a foreign binary run by binfmt_misc; and the
#      target's own runtime under qemu-user with a bundle without namespaces.
# Binaries come from make cross. Environment: GO, BIN, CROSS_PKGS (packages
# to test, default ./...), GOTESTFLAGS, CI (true: a missing prerequisite fails).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BIN=${BIN:-bin}
CROSS_PKGS=${CROSS_PKGS:-./...}
GOTESTFLAGS=${GOTESTFLAGS:-}
module=$($GO list -m)
failed=()

# missing REASON: a prerequisite is absent; under CI that is a failure.
missing() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL $1 (CI=true)"
		failed+=("$t: $1")
	else
		echo "SKIP $1"
	fi
}

# field NAME COLUMN prints a column of NAME's line in cross/targets ("-" → "").
field() {
	awk -v n="$1" -v c="$2" '{ sub(/#.*/, "") } $1 == n { v = $c; if (v == "-") v = ""; print v; f = 1 } END { exit !f }' cross/targets
}

# binfmt ARCH makes sure the kernel runs ARCH's ELF files, natively (386 on
# amd64) or through qemu-user: registers Debian's handler when root and it is
# absent (flag F: the emulator works in any mount namespace).
binfmt() {
	local d=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-$1.conf
	"$bin" version >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] && [ -r "$conf" ] || return 1
	[ -e "$d/register" ] || mount -t binfmt_misc binfmt_misc "$d" || return 1
	[ -e "$d/qemu-$1" ] || cat "$conf" >"$d/register" || return 1
	echo "registered $conf with binfmt_misc"
	grep -qx enabled "$d/qemu-$1"
}

# target_skip TARGET prints the reason of a whole-target entry of
# cross/emulation-skip (package "*") and succeeds when there is one.
target_skip() {
	sed -e 's/#.*//' cross/emulation-skip | awk -v t="$1" '
		{ n = split($1, ts, ","); for (i = 1; i <= n; i++) if (ts[i] == t && $2 == "*") {
			$1 = $2 = $3 = ""; sub(/^ +/, ""); print; found = 1; exit } }
		END { exit !found }'
}

unit_tests() {
	local skips=() runs=() tgts pkg tests reason
	while read -r tgts pkg tests reason; do
		case ",$tgts," in *",$t,"* | *,all,*) ;; *) continue ;; esac
		[ "$pkg" = "*" ] && continue
		echo "SKIP $t: $pkg ${tests/#\*/(all tests)}: $reason"
		if [ "$tests" = "*" ]; then skips+=("$module/$pkg"); else runs+=("$pkg $tests"); fi
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' cross/emulation-skip)
	local pkgs=()
	# shellcheck disable=SC2086 # CROSS_PKGS is a list of patterns
	for p in $($GO list $CROSS_PKGS); do
		local keep=1 s
		for s in "${skips[@]}" "${runs[@]%% *}"; do [ "$p" = "$s" ] || [ "$p" = "$module/$s" ] && keep=0; done
		[ $keep = 1 ] && pkgs+=("$p")
	done
	# qemu-user can deadlock a guest's fork: the copy of the emulator
	# inherits its locks as other threads held them, and the test binary
	# then waits for an exec that never comes. A package whose tests time
	# out (2 minutes each; the slowest takes ~20 s here) runs once more,
	# and says so.
	local log again=()
	log=$(mktemp)
	# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
	if ! env CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" GOARM="$goarm" \
		$GO test -timeout 2m $GOTESTFLAGS -exec "$qemu" "${pkgs[@]}" 2>&1 | tee "$log" | grep -v '\[no test files\]$'; then
		if grep -q '^panic: test timed out' "$log"; then
			mapfile -t again < <(awk -F'\t' '$1 == "FAIL" && $2 != "" { print $2 }' "$log")
		fi
		rm -f "$log"
		[ ${#again[@]} -gt 0 ] || return 1
		echo "RETRY $t: ${again[*]}: timed out under $qemu (a fork the emulator deadlocked?); once more"
		# shellcheck disable=SC2086
		env CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" GOARM="$goarm" \
			$GO test -timeout 2m $GOTESTFLAGS -exec "$qemu" "${again[@]}" | grep -v '\[no test files\]$' || return 1
	fi
	rm -f "$log"
	for r in "${runs[@]}"; do
		# shellcheck disable=SC2086
		env CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" GOARM="$goarm" \
			$GO test $GOTESTFLAGS -exec "$qemu" -skip "${r#* }" "./${r%% *}" || return 1
	done
}

# bundle DIR BINARY ARGS… writes an OCI bundle whose rootfs holds BINARY as
# /petrel and whose process runs ARGS, with the host runtime's default spec.
bundle() {
	local dir=$1 bin=$2
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir/rootfs"
	cp "$bin" "$dir/rootfs/petrel"
	"$host_bin" runtime spec -b "$dir"
	jq --args '.process.args = $ARGS.positional | .process.terminal = false' "$@" <"$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
}

runtime_tests() {
	local work want=$1 out
	if [ "$(id -u)" != 0 ]; then
		missing "$t: petrel-runtime run: needs root"
		return 0
	fi
	if ! binfmt "$qarch"; then
		missing "$t: petrel-runtime run: binfmt_misc cannot run $qarch binaries (no /usr/lib/binfmt.d/qemu-$qarch.conf, or not root)"
		return 0
	fi
	work=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: work is local
	trap "rm -rf '$work'" RETURN
	# The host's runtime, every namespace, a foreign init: binfmt_misc.
	bundle "$work/ns" "$bin" /petrel version
	out=$("$host_bin" runtime --root "$work/state" run -b "$work/ns" "cross-$t-ns") || return 1
	grep -qx "platform: $want" <<<"$out" || { echo "container printed: $out"; return 1; }
	echo "ok   $t: host petrel-runtime run, foreign init in all namespaces: $want"
	# The target's runtime under qemu-user: qemu refuses clone(2) with any
	# CLONE_NEW* flag (EINVAL), so this bundle asks for no namespaces.
	bundle "$work/plain" "$bin" /petrel version
	jq 'del(.linux.namespaces, .hostname, .domainname)' <"$work/plain/config.json" >"$work/plain/c" && mv "$work/plain/c" "$work/plain/config.json"
	out=$("$qemu" "$bin" runtime --root "$work/state" run -b "$work/plain" "cross-$t-plain") || return 1
	grep -qx "platform: $want" <<<"$out" || { echo "container printed: $out"; return 1; }
	echo "ok   $t: emulated petrel-runtime run, no namespaces: $want"
	# With namespaces it cannot work under qemu-user; say so if that changes.
	if "$qemu" "$bin" runtime --root "$work/state" run -b "$work/ns" "cross-$t-emu-ns" >/dev/null 2>"$work/err"; then
		echo "NOTE $t: emulated petrel-runtime created namespaces: qemu-user now supports CLONE_NEW*; extend cross-test"
	elif grep -q "invalid argument" "$work/err"; then
		echo "ok   $t: emulated petrel-runtime with namespaces fails as qemu-user does (clone CLONE_NEW*: EINVAL)"
	else
		echo "emulated run with namespaces failed otherwise: $(cat "$work/err")"
		return 1
	fi
}

[ $# -gt 0 ] || { echo "usage: cross/cross-test.sh TARGET…" >&2; exit 2; }
host=$(uname -m)
case $host in x86_64) host=amd64 ;; aarch64) host=arm64 ;; esac
host_bin=$BIN/petrel-linux-$host
for t in "$@"; do
	goos=$(field "$t" 2) || { echo "cross-test: no target $t in cross/targets" >&2; exit 2; }
	goarch=$(field "$t" 3)
	goarm=$(field "$t" 4)
	qarch=$(field "$t" 5)
	bin=$BIN/petrel-$goos-$t
	start=$(date +%s)
	if [ -z "$qarch" ] || [ "$t" = "$host" ]; then
		echo "SKIP $t: the host's own architecture (make test runs it)"
		continue
	fi
	if reason=$(target_skip "$t"); then
		echo "SKIP $t: whole target: $reason"
		continue
	fi
	qemu=qemu-$qarch-static
	if ! command -v "$qemu" >/dev/null; then
		missing "$t: $qemu not installed (Debian's qemu-user-static)"
		continue
	fi
	echo "=== $t ($goos/$goarch${goarm:+ GOARM=$goarm}) under $qemu"
	# Before the unit tests: a test binary that starts itself again
	# (pullbench's spawner) needs the kernel to run foreign binaries.
	# runtime_tests reports it when this cannot be done.
	binfmt "$qarch" || true
	unit_tests || failed+=("$t: unit tests")
	if out=$("$qemu" "$bin" version) && grep -qx "platform: $goos/$goarch" <<<"$out"; then
		echo "ok   $t: $bin version: $(head -1 <<<"$out")"
	else
		echo "$out"
		failed+=("$t: petrel version")
	fi
	runtime_tests "$goos/$goarch" || failed+=("$t: petrel-runtime run")
	echo "=== $t: $(($(date +%s) - start)) s"
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'cross-test: FAILED %s\n' "${failed[@]}"
	exit 1
fi
echo "cross-test: ok ($*)"
