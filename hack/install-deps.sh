#!/usr/bin/env bash
# Install everything the local Kubernetes (hack/cluster.py) needs, idempotently.
#
#   bash hack/install-deps.sh            # Debian packages + Kubernetes/helm/CoreDNS builds
#   bash hack/install-deps.sh --no-build # Debian packages only
#
# * Debian packages: apt-get update runs only when a package is missing.
# * Binaries: hack/build-binaries.sh (cached under /var/cache/yardarm/bin/<version>/,
#   a repeat run is instant; a cold build takes ~25 min on 2 cores).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
  esac
done

log() { printf '[install-deps %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# containerd + runc + CNI plugins: the node runtime; iptables/conntrack: kube-proxy;
# iproute2: bridge/veth; debootstrap: offline images; openssl: certificates;
# etcd-server: the client (etcdctl) and a fallback server (the API server is run
# against etcd built at the version Kubernetes pins, see docs/local-cluster.md).
PACKAGES=(
  containerd runc containernetworking-plugins iptables conntrack iproute2 ethtool socat
  debootstrap openssl ca-certificates mount util-linux etcd-client etcd-server
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Debian's service scripts must not start a system containerd/etcd: hack/cluster.py runs its own.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all present"
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  log "ERROR: no Go toolchain (go >= 1.24 needed to build Kubernetes from the module proxy)"
  exit 1
fi

if [ "$BUILD" = 1 ]; then
  bash "$HERE/build-binaries.sh" all
fi
log "done"
