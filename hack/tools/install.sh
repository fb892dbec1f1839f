#!/usr/bin/env bash
# Build the chart-checking tools from the Go module proxy into the cache (idempotent).
#
#   bash hack/tools/install.sh            # kubeconform
#
# Output: $YARDARM_CACHE/bin/tools/kubeconform (default /var/cache/yardarm/bin/tools).
# A stamp file records the version; a repeat run with the same version is instant.
# kubeconform needs JSON schemas; they are generated offline by hack/tools/schemas.py
# (the Kubernetes built-ins from a live kube-apiserver's /openapi/v2, our kinds from crds/).
#
# Environment: KUBECONFORM_VERSION (default v0.7.0), YARDARM_CACHE, GO_PARALLEL (default 1:
# the machine has 2 cores and is shared with the Kubernetes build).
set -euo pipefail

KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
CACHE="${YARDARM_CACHE:-/var/cache/yardarm}"
GO_PARALLEL="${GO_PARALLEL:-1}"
BIN="$CACHE/bin/tools"
WORK="$CACHE/build/tools"

log() { printf '[tools %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
      log "ERROR: go toolchain not found"; exit 1
    fi
  fi
}

build_kubeconform() {
  local stamp="$BIN/.kubeconform.stamp"
  if [ -x "$BIN/kubeconform" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$KUBECONFORM_VERSION" ]; then
    log "kubeconform $KUBECONFORM_VERSION: cached in $BIN"; return 0
  fi
  need_go
  mkdir -p "$BIN" "$WORK"
  log "kubeconform $KUBECONFORM_VERSION: building from the module proxy (a minute or two)"
  (
    cd "$WORK"
    export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" GOBIN="$WORK/gobin"
    go install -p "$GO_PARALLEL" -ldflags "-s -w" \
      "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    mv "$GOBIN/kubeconform" "$BIN/kubeconform.tmp"
  )
  mv "$BIN/kubeconform.tmp" "$BIN/kubeconform"
  echo "$KUBECONFORM_VERSION" > "$stamp"
  log "kubeconform: $("$BIN/kubeconform" -v 2>&1 | head -1) in $BIN"
}

build_kubeconform
