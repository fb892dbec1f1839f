#!/usr/bin/env bash
# mypy --strict and import-linter over the package as it is installed.
#
# operator/, training/ and serving/ install as yardarm.operator, yardarm.training and
# yardarm.serving (setuptools package-dir). Type checkers and import-linter read directories, not
# the editable install's import hook, so this builds a view of that layout out of symlinks under
# build/pkgview/ and checks it there. Nothing else is needed from build/: a fresh clone works.
# mypy's cache lives beside the view (build/mypy-cache/), so only the first run is slow.
# Usage: bash hack/typecheck.sh [mypy|imports|all]; VENV=<dir> picks the virtualenv (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
what="${1:-all}"
case "$what" in
  mypy | imports | all) ;;
  *) echo "usage: bash hack/typecheck.sh [mypy|imports|all]" >&2 && exit 2 ;;
esac
VENV_DIR="${VENV:-.venv}"
case "$VENV_DIR" in /*) ;; *) VENV_DIR="$ROOT/$VENV_DIR" ;; esac
BIN="$VENV_DIR/bin"
for tool in mypy lint-imports; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "error: $BIN/$tool not found: run \`make dev\` first (or set VENV=<virtualenv>)" >&2
    exit 2
  fi
done

VIEW="$ROOT/build/pkgview"
echo "==> package view in build/pkgview (yardarm/ with operator/, training/, serving/ linked in)"
rm -rf "$VIEW" && mkdir -p "$VIEW/yardarm"
for entry in yardarm/*; do ln -s "$ROOT/$entry" "$VIEW/yardarm/"; done
for runtime in operator training serving; do ln -s "$ROOT/$runtime" "$VIEW/yardarm/$runtime"; done

failed=()
if [ "$what" = all ] || [ "$what" = mypy ]; then
  files=$(find -L "$VIEW/yardarm" -name '*.py' | wc -l)
  cache="$ROOT/build/mypy-cache"
  [ -d "$cache" ] && note="cached" || note="first run, about a minute"
  echo "==> mypy --strict over $files files (yardarm, operator, training, serving; $note)"
  (cd "$VIEW" && MYPYPATH="$VIEW" "$BIN/mypy" --config-file "$ROOT/pyproject.toml" --cache-dir "$cache" -p yardarm) ||
    failed+=(mypy)
fi
if [ "$what" = all ] || [ "$what" = imports ]; then
  echo "==> import-linter contracts"
  (cd "$VIEW" && PYTHONPATH="$VIEW" "$BIN/lint-imports" --config "$ROOT/pyproject.toml" --no-cache) ||
    failed+=(import-linter)
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "==> failed: ${failed[*]}" >&2
  exit 1
fi
