# Public interface: make local | test | synth | review | bench (see README.md).
# Every target installs what it needs first and is idempotent: a second run installs nothing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt requirements-dev.txt training/requirements.txt inference/requirements.txt infra/requirements.txt planner/requirements.txt
PYTEST_ARGS ?=
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

# Prerequisites of `make test`; the included mk/*.mk files add theirs.
TEST_PREREQS := $(VENV_STAMP)

.PHONY: help install test lint
help:
	@echo "make test      install everything (idempotent) and run the whole test suite"
	@echo "make install   create .venv with the pinned dependencies"
	@grep -h '^## ' mk/*.mk 2>/dev/null | sed 's/^## /make /' || true

install: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

include $(wildcard mk/*.mk)

test: $(TEST_PREREQS)
	$(PY) -m pytest $(PYTEST_ARGS)
