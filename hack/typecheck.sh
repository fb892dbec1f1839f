#!/usr/bin/env bash
# mypy --strict and import-linter over the package as it is installed.
#
# operator/, training/ and serving/ install as yardarm.operator, yardarm.training and
# yardarm.serving (setuptools package-dir). Type checkers and import-linter read directories, not
# the editable install's import hook, so this builds a view of that layout out of symlinks under
# build/pkgview/ and checks it there. Usage: bash hack/typecheck.sh [mypy|imports|all]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIN="${VENV:-.venv}/bin"
VIEW="$ROOT/build/pkgview"
rm -rf "$VIEW" && mkdir -p "$VIEW/yardarm"
for entry in yardarm/*; do ln -s "$ROOT/$entry" "$VIEW/yardarm/"; done
for runtime in operator training serving; do ln -s "$ROOT/$runtime" "$VIEW/yardarm/$runtime"; done

what="${1:-all}"
if [ "$what" = all ] || [ "$what" = mypy ]; then
  echo "==> mypy --strict (yardarm, operator, training, serving)"
  (cd "$VIEW" && MYPYPATH="$VIEW" "$ROOT/$BIN/mypy" --config-file "$ROOT/pyproject.toml" -p yardarm)
fi
if [ "$what" = all ] || [ "$what" = imports ]; then
  echo "==> import-linter contracts"
  (cd "$VIEW" && PYTHONPATH="$VIEW" "$ROOT/$BIN/lint-imports" --config "$ROOT/pyproject.toml" --no-cache)
fi
