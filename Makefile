# Public interface: make local | test | synth | review | bench (see README.md).
# Every target installs what it needs first and is idempotent: a second run installs nothing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt requirements-dev.txt training/requirements.txt inference/requirements.txt \
	inference/requirements-pytorch.txt inference/requirements-tensorflow.txt inference/requirements-client.txt infra/requirements.txt planner/requirements.txt release/requirements.txt k8s/requirements.txt
# The container packages, installed editable so `python -m training` / `python -m inference` work from anywhere.
PACKAGES := training/pyproject.toml inference/pyproject.toml
PYTEST_ARGS ?=
# Test processes (pytest-xdist); a test file runs whole in one process, so its session fixtures (servers,
# the synthesized app) are built once per process that needs them.
TEST_JOBS ?= auto
PYTEST_PARALLEL := -n $(TEST_JOBS) --dist loadfile
# The fast loop: unit tests and the cheap integration tests, none marked slow (no training runs, no served
# models, no review synths, no make synth or checkov, no local mode).
FAST_TESTS := tests/unit tests/integration/review/test_review_units.py tests/integration/review/test_review_workflow_lint.py \
	-m "not slow"
RUFF := $(VENV)/bin/ruff
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

# Prerequisites of `make test`; the included mk/*.mk files add theirs.
TEST_PREREQS := $(VENV_STAMP)

.PHONY: help install test test-fast lint
help:
	@echo "make test      install everything (idempotent), lint, and run the whole test suite in parallel"
	@echo "make test-fast unit tests and cheap integration tests in parallel (a minute)"
	@echo "make lint      ruff check and ruff format --check"
	@echo "make install   create .venv with the pinned dependencies"
	@grep -h '^## ' mk/*.mk 2>/dev/null | sed 's/^## /make /' || true

install: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS) $(PACKAGES)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e training -e inference
	touch $@

include $(wildcard mk/*.mk)

lint: $(VENV_STAMP)
	$(RUFF) check .
	$(RUFF) format --check .

test-fast: $(VENV_STAMP)
	time $(PY) -m pytest $(PYTEST_PARALLEL) $(FAST_TESTS) $(PYTEST_ARGS)

test: lint $(TEST_PREREQS)
	time $(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)
