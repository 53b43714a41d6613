#!/usr/bin/env bash
# The engine's main job on this machine: petreld on private directories,
# a busybox image imported into it, a container run from the image on the
# default network, a web server published on 127.0.0.1 and fetched from
# the host, an exec, the logs; then everything removed. Then the same
# busybox through petrel-runtime alone, as engines use it in runc's place.
# Needs root and Debian's busybox-static (make setup).
set -euo pipefail
petrel=$(readlink -f "${1:-bin/petrel}")
work=$(mktemp -d)
sock=$work/petrel.sock
cli=("$petrel" -H "unix://$sock")
daemon=

cleanup() {
	if [ -n "$daemon" ]; then
		"${cli[@]}" rm -f demo-web >/dev/null 2>&1 || true
		kill -TERM "$daemon" 2>/dev/null || true
		wait "$daemon" 2>/dev/null || true
	fi
	ip link del pdemo0 2>/dev/null || true
	# The default network's masquerade rule outlives petreld, as on a host.
	iptables -w 5 -t nat -S POSTROUTING 2>/dev/null | grep ' pdemo0"' | sed 's/^-A /-D /' |
		while read -r rule; do eval "iptables -w 5 -t nat $rule"; done
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh echo hostname id ls cat uname httpd wget ip; do ln -s busybox "$work/rootfs/bin/$a"; done
mkdir -p "$work/rootfs/www" "$work/rootfs/tmp"
echo "hello from a petrel container" >"$work/rootfs/www/index.html"

cat >"$work/daemon.json" <<EOF
{
  "graph": "$work/root", "state": "$work/state", "hosts": ["unix://$sock"],
  "cni-conf-dir": "$work/net.d",
  "default-network-subnet": "10.209.77.0/24", "default-network-bridge": "pdemo0"
}
EOF
echo "== petreld (daemon.json: $work/daemon.json)"
"$petrel" daemon --config-file "$work/daemon.json" >"$work/petreld.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
	"${cli[@]}" info >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || { cat "$work/petreld.log"; exit 1; }
	sleep 0.1
done
"${cli[@]}" version | sed -n '/^Server/,$p'

echo "== petrel import: a busybox image from a root filesystem tar"
tar -C "$work/rootfs" -c . | "${cli[@]}" import -c 'CMD ["sh"]' - demo/busybox:1
"${cli[@]}" images

echo "== petrel run --rm, on the default network"
"${cli[@]}" run --rm demo/busybox:1 sh -c 'echo "hello from $(hostname), pid $$, $(uname -sm)"; ip -4 -o addr show eth0'

echo "== petrel run -d -p 127.0.0.1:18089:80, fetched from the host"
"${cli[@]}" run -d --name demo-web -p 127.0.0.1:18089:80 demo/busybox:1 httpd -f -p 80 -h /www >/dev/null
"${cli[@]}" ps
for _ in $(seq 50); do
	out=$(busybox wget -q -O - http://127.0.0.1:18089/ 2>/dev/null) && break
	sleep 0.1
done
echo "host got: ${out:?no answer from the published port}"
"${cli[@]}" exec demo-web sh -c 'echo "exec in $(hostname): $(ls /www)"'
"${cli[@]}" stop -t 1 demo-web >/dev/null
"${cli[@]}" rm demo-web >/dev/null
echo "removed; petreld stops"
kill -TERM "$daemon"
wait "$daemon" || true
daemon=

echo "== petrel-runtime run: the OCI runtime alone"
mkdir -p "$work/bundle"
cp -a "$work/rootfs" "$work/bundle/rootfs"
ln -s "$petrel" "$work/petrel-runtime"
rt=("$work/petrel-runtime" --root "$work/rtstate")
(cd "$work/bundle" && "${rt[@]}" spec)
sed -i -e 's/"terminal": true/"terminal": false/' \
	-e 's/"sh"$/"sh", "-c", "echo hello from $(hostname), pid $$, $(uname -sm); id"/' "$work/bundle/config.json"
"${rt[@]}" run --bundle "$work/bundle" demo
