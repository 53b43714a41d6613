#!/usr/bin/env bash
# Installs from Debian what Petrel's tests and benchmarks need.
set -euo pipefail
pkgs=(busybox-static runc crun iptables iproute2 jq file)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
