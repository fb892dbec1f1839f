# Yardarm developer tasks. `make test` is the one command that runs every test (README, .ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: dev deps test unit lint format generate crds demo clean

## dev: create the virtualenv and install Yardarm editable with every extra
dev: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing yardarm[dev]"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

## deps: system packages and cached binaries the tests need (idempotent; prints progress)
deps:
	bash hack/install-deps.sh
	bash hack/s3/install.sh
	bash hack/tools/install.sh
	bash hack/gitops/install.sh

## test: every test: unit, component, integration (real control plane), e2e (real node)
test: dev deps
	$(BIN)/pytest

## demo: the whole lifecycle on a local single-node cluster (add ARGS=--keep to leave it running)
demo: dev
	$(BIN)/python hack/demo.py $(ARGS)

## unit: the fast, pure tests only
unit: dev
	$(BIN)/pytest tests/unit

## lint: ruff lint and format check, mypy --strict, import-linter contracts (layering)
lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	VENV=$(VENV) bash hack/typecheck.sh all

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## generate: every generated file, from its one source: CRDs and docs/api.md (yardarm/api), the
## chart's RBAC (operator/rbac.py), the Argo CD health checks (gitops/argocd/health/health.lua), the
## recorded objects the GitOps health tests run on (tests/fixtures/gitops, from the status functions).
## Unit and component tests fail, naming this target, when any of them is stale.
generate: dev
	$(BIN)/yardarm crds
	$(BIN)/python hack/tools/chart_rbac.py
	$(BIN)/python hack/tools/argocd.py
	$(BIN)/python hack/tools/gitops_fixtures.py

crds: generate

clean:
	rm -rf $(VENV) build dist *.egg-info
