# kafka-connect-backup: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(abspath .)
TOOLS := $(ROOT)/.tools
export UV_PROJECT_ENVIRONMENT := $(TOOLS)/venv
export HELM_PLUGINS := $(TOOLS)/helm-plugins
export PATH := $(TOOLS)/bin:$(TOOLS)/venv/bin:$(PATH)
PYTEST := $(TOOLS)/venv/bin/pytest
# Complexity, by radon's count (xenon): no function above C (20), no module averaging above B,
# the package's average A. Ruff's C901 (pyproject.toml) holds every file to mccabe's 20; radon
# also counts boolean operators, comprehensions and asserts, so it covers the package alone:
# a test is a scenario of asserts, not branches, and scripts/ are development tools.
XENON := xenon --max-absolute C --max-modules B --max-average A images/backup/src/kafka_connect_backup

.PHONY: setup setup-demo lint format test test-unit test-java test-fuzz test-integration test-chart test-images test-e2e demo bench bench-quick images clean

setup:  ## install every tool the project needs into .tools/ (idempotent, cached)
	@scripts/setup.sh all

setup-demo:  ## only what `make demo` needs (no Docker, helm or Kubernetes)
	@scripts/setup.sh demo

lint: setup  ## ruff lint + format check, mypy, the import contracts, complexity (pyproject.toml)
	ruff check .
	ruff format --check .
	mypy
	lint-imports
	$(XENON)

format: setup
	ruff format .
	ruff check --fix .

# `make test` measures the line coverage of the package (the settings and the fail_under gate
# are [tool.coverage.*] in pyproject.toml; data in .tools/coverage/). Code running inside the
# images tier's containers and the e2e tier's pods is not measured. The single-tier targets
# below run without coverage and without the gate.
COVERAGE := --cov --cov-report=term-missing

test: lint  ## every tier, with the coverage gate
	$(PYTEST) $(COVERAGE) tests

test-unit: setup
	$(PYTEST) -m unit tests/unit

test-java: setup  ## the envelope transform's JUnit tests (Maven; also part of `make test`)
	$(PYTEST) -m java tests/unit

test-fuzz: setup  ## property tests of the parsers (hypothesis; KCB_HYPOTHESIS_PROFILE=fuzz for a long run)
	$(PYTEST) -m fuzz tests/fuzz

test-integration: setup
	$(PYTEST) tests/integration

test-chart: setup
	$(PYTEST) tests/chart

test-images: setup
	$(PYTEST) tests/images

test-e2e: setup  ## a real one-node Kubernetes: helm install, kubectl exec, helm upgrade
	$(PYTEST) tests/e2e

demo: setup-demo  ## the whole job end to end on a local embedded Kafka
	$(TOOLS)/venv/bin/python scripts/demo.py

images: setup  ## build both images (public bases, or local stand-ins when no registry answers)
	$(TOOLS)/venv/bin/python scripts/images.py $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(TAG),--tag $(TAG))

bench: setup  ## benchmarks; writes docs/benchmarks.md
	$(TOOLS)/venv/bin/python scripts/bench.py

bench-quick: setup  ## every benchmark at small sizes (a developer's loop); writes nothing to docs/
	$(TOOLS)/venv/bin/python scripts/bench.py --quick --output -

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache
