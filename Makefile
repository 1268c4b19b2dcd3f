# kafka-connect-backup: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(abspath .)
TOOLS := $(ROOT)/.tools
export UV_PROJECT_ENVIRONMENT := $(TOOLS)/venv
export HELM_PLUGINS := $(TOOLS)/helm-plugins
export PATH := $(TOOLS)/bin:$(TOOLS)/venv/bin:$(PATH)
PYTEST := $(TOOLS)/venv/bin/pytest

.PHONY: setup lint format test test-unit test-integration test-chart test-images test-demo demo bench clean

setup:  ## install every tool the project needs into .tools/ (idempotent, cached)
	@scripts/setup.sh

lint: setup  ## ruff lint + format check, mypy
	ruff check .
	ruff format --check .
	mypy

format: setup
	ruff format .
	ruff check --fix .

test: lint  ## every tier
	$(PYTEST) tests

test-unit: setup
	$(PYTEST) -m unit tests/unit

test-integration: setup
	$(PYTEST) tests/integration

test-chart: setup
	$(PYTEST) tests/chart

test-images: setup
	$(PYTEST) tests/images

demo: setup  ## the whole job end to end on a local embedded Kafka
	$(TOOLS)/venv/bin/python scripts/demo.py

bench: setup  ## benchmarks; writes docs/benchmarks.md
	$(TOOLS)/venv/bin/python scripts/bench.py

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache
