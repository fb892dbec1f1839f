#!/usr/bin/env bash
# Create the peer servers' virtualenvs for the serving benchmark, outside the repo.
#
# MLServer and KServe pin conflicting versions of fastapi/uvicorn/protobuf, so each gets its own venv
# under $BENCH_ROOT (default /var/cache/yardarm/bench). Re-running is cheap: an existing venv whose
# marker file matches the pinned versions is kept. wrk comes from Debian.
set -euo pipefail

BENCH_ROOT="${BENCH_ROOT:-/var/cache/yardarm/bench}"
PYTHON="${PYTHON:-python3.11}"
MLSERVER_VERSION="${MLSERVER_VERSION:-1.7.1}"
KSERVE_VERSION="${KSERVE_VERSION:-0.21.0}"
# The same library versions as the Yardarm venv, so every contender runs the same model code.
SKLEARN_VERSION="${SKLEARN_VERSION:-1.9.1}"
ORT_VERSION="${ORT_VERSION:-1.32.0}"

mkdir -p "$BENCH_ROOT"
# Run pip from outside the repo: `python -m` puts the cwd on sys.path, and the repo's operator/
# directory would shadow the standard library module of that name.
cd "$BENCH_ROOT"

make_venv() {
    local name="$1"; shift
    local dir="$BENCH_ROOT/$name"
    local want="$*"
    if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$want" ]]; then
        echo "[setup] $name: up to date ($dir)"
        return
    fi
    echo "[setup] $name: creating $dir with: $want"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    # shellcheck disable=SC2086
    "$dir/bin/python" -m pip install -q $want
    echo "$want" >"$dir/.installed"
}

make_venv mlserver "mlserver==$MLSERVER_VERSION" "mlserver-sklearn==$MLSERVER_VERSION" "scikit-learn==$SKLEARN_VERSION"
make_venv kserve "kserve==$KSERVE_VERSION" "onnxruntime==$ORT_VERSION" "numpy"

if ! command -v wrk >/dev/null; then
    echo "[setup] installing wrk from Debian"
    apt-get update -qq && apt-get install -y -qq wrk
fi
echo "[setup] done"
