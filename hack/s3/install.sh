#!/usr/bin/env bash
# Build versitygw (an S3 gateway, posix backend: a single Go binary) for the training runtime's
# s3:// component tests. It comes from the Go module proxy with `go install`, into a cache outside
# the repo, so nothing downloaded is ever committed. A stamp makes repeat runs instant.
#
# Why versitygw: one static binary, no config file, serves a plain directory on a loopback port
# with fixed credentials from flags: the simplest real S3 server to start per test session.
#
# Output: $YARDARM_CACHE/bin/versitygw  (default /var/cache/yardarm/bin/versitygw)
# Environment: VERSITYGW_VERSION (default v1.8.0), YARDARM_CACHE, GO_PARALLEL (default 2).
set -euo pipefail

VERSION="${VERSITYGW_VERSION:-v1.8.0}"
CACHE="${YARDARM_CACHE:-/var/cache/yardarm}"
BIN_DIR="$CACHE/bin"
BIN="$BIN_DIR/versitygw"
STAMP="$BIN_DIR/.versitygw-$VERSION.stamp"

log() { printf '[s3-install %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [ -x "$BIN" ] && [ -f "$STAMP" ]; then
  log "versitygw $VERSION already at $BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
    log "ERROR: go toolchain not found; install Go >= 1.24 first"; exit 1
  fi
fi

mkdir -p "$BIN_DIR"
log "building github.com/versity/versitygw/cmd/versitygw@$VERSION with $(go version | cut -d' ' -f3)"
start=$SECONDS
# Heartbeat so CI logs show progress during a cold build (a few minutes on 2 cores).
( while sleep 30; do log "still building ($((SECONDS - start))s)"; done ) &
beat=$!
trap 'kill "$beat" 2>/dev/null || true' EXIT
GOBIN="$BIN_DIR" CGO_ENABLED=0 go install -p "${GO_PARALLEL:-2}" -trimpath \
  "github.com/versity/versitygw/cmd/versitygw@$VERSION"
rm -f "$BIN_DIR"/.versitygw-*.stamp
touch "$STAMP"
log "done in $((SECONDS - start))s: $BIN ($("$BIN" --version 2>/dev/null | head -1 || echo 'version unknown'))"
