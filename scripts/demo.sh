#!/usr/bin/env bash
# Runs a busybox container through petrel-runtime: the engine's main job
# until the daemon lands. Needs root and Debian's busybox-static.
set -euo pipefail
petrel=${1:-bin/petrel}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
for a in sh echo hostname id ls cat uname; do ln -s busybox "$work/bundle/rootfs/bin/$a"; done
ln -s "$(readlink -f "$petrel")" "$work/petrel-runtime"
rt=("$work/petrel-runtime" --root "$work/state")
(cd "$work/bundle" && "${rt[@]}" spec)
# No terminal, and a short script instead of an interactive shell.
sed -i -e 's/"terminal": true/"terminal": false/' \
	-e 's/"sh"$/"sh", "-c", "echo hello from $(hostname), pid $$, $(uname -sm); id"/' "$work/bundle/config.json"
"${rt[@]}" run --bundle "$work/bundle" demo
