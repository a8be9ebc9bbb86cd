# Thin, self-documenting targets. `make help` lists them.
# Everything installs into .venv with uv (bootstrapped into .tools when missing),
# from the hash-pinned lock files in requirements/.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test processes (pytest-xdist); each gets its own databases. 2 fits a 2-core machine.
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(STAMP): requirements/dev.lock pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements/dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --editable .
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Install the app and its tools into .venv

.PHONY: run
run: install ## Start the server (embedded SQLite + demo data) on http://127.0.0.1:8000/graphql
	$(BIN)/graphql-api serve

.PHONY: test
test: install ## Run the whole test suite on PostgreSQL and SQLite, with coverage
	$(BIN)/pytest -n $(TEST_WORKERS) --cov --cov-report=term-missing:skip-covered -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff (lint + format check), mypy --strict, import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: format
format: install ## Format and autofix the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: schema
schema: install ## Regenerate schema.graphql from the code
	$(BIN)/graphql-api export-schema --output schema.graphql

.PHONY: schema-check
schema-check: install ## Fail when schema.graphql is stale
	@$(BIN)/graphql-api export-schema | diff -u schema.graphql - \
		|| (echo "schema.graphql is stale: run 'make schema' and commit it" && exit 1)

.PHONY: lock
lock: | $(UV) ## Re-resolve the pinned dependencies after editing pyproject.toml
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		pyproject.toml -o requirements/prod.lock
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--extra dev pyproject.toml -o requirements/dev.lock

.PHONY: migrate
migrate: install ## Apply database migrations (DATABASE_URL, default the SQLite file)
	$(BIN)/graphql-api migrate

.PHONY: bench
bench: install ## Benchmark against PostgreSQL; writes bench/results.md
	$(BIN)/python -m bench.run

.PHONY: ci
ci: ## What CI runs (.ci/run)
	.ci/run

.PHONY: clean
clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov
