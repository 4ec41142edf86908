# The two commands: `make dev` (the local stack) and `make test` (everything CI checks).
# Each target creates .venv and installs what is missing first, so both work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_WORKERS ?= auto

.PHONY: test dev lint typecheck unit bench events clean install conformance inspector checkov

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalls when pyproject.toml changes.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(INSTALLED)

# checkov (tests/infra/test_checkov.py) in its own virtualenv: its exact pins (boto3, packaging,
# networkx) conflict with the dev extras. The test runs $(CHECKOV_VENV)/bin/checkov.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
$(CHECKOV_INSTALLED): tests/infra/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r tests/infra/checkov-requirements.txt
	@touch $@

checkov: $(CHECKOV_INSTALLED)

# Pinned in package.json: the CDK CLI, and the MCP conformance suite with the Node 22 it runs on
# (the npm package `node`, so Node 20 and npm are enough); installed only when that file exists.
node_modules/.installed: $(wildcard package.json package-lock.json)
	@if [ -f package.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	@mkdir -p node_modules && touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

test: $(INSTALLED) $(CHECKOV_INSTALLED) node_modules/.installed lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

# Only the official MCP conformance suite against the local stack (docs/conformance.md); `make test` runs it too.
conformance: $(INSTALLED) node_modules/.installed
	$(BIN)/pytest tests/e2e/test_conformance.py

dev: $(INSTALLED)
	$(BIN)/mcp-lambda dev

# The MCP Inspector (pinned in package.json) on the repo's own Node 22, pointed at `make dev`'s
# endpoint with no header: Connect signs in through the authorization front. Open the URL it prints.
PORT ?= 8787
inspector: node_modules/.installed
	PATH="$(CURDIR)/node_modules/node/bin:$$PATH" MCP_AUTO_OPEN_ENABLED=false \
	  node node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js \
	  --web --transport http --server-url http://127.0.0.1:$(PORT)/mcp

# Benchmarks side by side with the alternatives (issue 7); not part of `make test`.
bench: $(INSTALLED)
	$(BIN)/python -m bench

events: $(INSTALLED)
	$(BIN)/python -m devtools.sample_events

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules cdk.out .local .mypy_cache .ruff_cache .pytest_cache .hypothesis
