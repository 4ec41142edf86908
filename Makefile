# The two commands: `make dev` (the local stack) and `make test` (everything CI checks).
# Each target creates .venv and installs what is missing first, so both work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_WORKERS ?= auto

.PHONY: test dev lint typecheck unit bench events clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalls when pyproject.toml changes.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(INSTALLED)

# The CDK CLI is pinned in package.json; installed only when that file exists.
node_modules/.installed: $(wildcard package.json package-lock.json)
	@if [ -f package.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	@mkdir -p node_modules && touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

test: $(INSTALLED) node_modules/.installed lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

dev: $(INSTALLED)
	$(BIN)/mcp-lambda dev

# Benchmarks side by side with the alternatives (issue 7); not part of `make test`.
bench: $(INSTALLED)
	$(BIN)/python -m bench

events: $(INSTALLED)
	$(BIN)/python -m devtools.sample_events

clean:
	rm -rf $(VENV) node_modules cdk.out .local .mypy_cache .ruff_cache .pytest_cache .hypothesis
