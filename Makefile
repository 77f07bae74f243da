# Enlace — the two commands a newcomer needs are `make demo` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin

.PHONY: demo test install test-deps services lint bench clean

## demo: create a virtual environment, install, and run the whole flow on the embedded default
demo: $(VENV)/.installed
	$(BIN)/enlace demo

## test: install everything the tests need (packages, PostgreSQL running, browser), lint, run them all
test: $(VENV)/.installed-test services test-deps lint
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## services: make sure the PostgreSQL server the ledger tests use is up
services:
	bash .ci/services.sh

## test-deps: non-Python things the tests need (see .ci/test-deps.sh)
test-deps:
	bash .ci/test-deps.sh

## lint: ruff (style, complexity ≤ 10), the layer contract (import-linter) and mypy
## bench: throughput, latency and gateway CPU per exchange against baselines, at most 3 min
##        (docs/performance.md); pick cases with BENCH_ARGS="--cases curp,remote --json out.json"
bench: $(VENV)/.installed
	bash loadtests/bench/ensure-tools.sh
	PYTHONPATH=. $(BIN)/python -m loadtests.bench $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check gateway trusted_sources services tests loadtests
	$(BIN)/ruff format --check gateway trusted_sources services tests loadtests
	$(BIN)/lint-imports
	$(BIN)/mypy gateway trusted_sources services

clean:
	rm -rf $(VENV) var .pytest_cache
