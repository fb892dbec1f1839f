#!/usr/bin/env bash
# Build the GitOps health harnesses from hack/gitops/<name>/ into the cache (idempotent).
#
#   bash hack/gitops/install.sh
#
# * kstatus: sigs.k8s.io/cli-utils' kstatus (what Flux's health checks and `kubectl wait`-style
#   tools compute) over JSON objects.
# * luahealth: Argo CD's health.lua scripts run in gopher-lua, the interpreter Argo CD embeds,
#   with Argo CD's calling convention.
#
# Output: $YARDARM_CACHE/bin/gitops/{kstatus,luahealth} (default /var/cache/yardarm/bin/gitops).
# Each binary's stamp is the sha256 of its module's go.mod, go.sum and main.go: a repeat run
# with the same sources is instant, a changed source rebuilds. Versions are pinned in go.mod and
# checked against go.sum (-mod=readonly). A cold build (empty Go caches) takes about a minute
# for kstatus and seconds for luahealth on 2 cores (docs/gitops.md has the measured times).
#
# Environment: YARDARM_CACHE, GO_PARALLEL (default 1: the machine has 2 cores).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${YARDARM_CACHE:-/var/cache/yardarm}"
GO_PARALLEL="${GO_PARALLEL:-1}"
BIN="$CACHE/bin/gitops"
HARNESSES=(kstatus luahealth)

log() { printf '[gitops %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
      log "ERROR: go toolchain not found"; exit 1
    fi
  fi
}

build() {
  local name="$1" src="$HERE/$1"
  local stamp="$BIN/.$name.stamp" want
  want="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log "$name: cached in $BIN ($want)"; return 0
  fi
  need_go
  mkdir -p "$BIN"
  log "$name: building from $src ($(grep -E '^\s*(require )?[a-z].* v[0-9]' "$src/go.mod" | grep -v indirect \
    | sed -E 's/^\s*(require )?//' | paste -sd, -))"
  local start=$SECONDS
  (
    cd "$src"
    export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
    go build -p "$GO_PARALLEL" -ldflags "-s -w" -o "$BIN/$name.tmp" .
  )
  mv "$BIN/$name.tmp" "$BIN/$name"
  echo "$want" > "$stamp"
  log "$name: built in $((SECONDS - start)) s -> $BIN/$name"
}

for h in "${HARNESSES[@]}"; do build "$h"; done
