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
# Suites by directory, one kind each (tests/README.md): tests/unit (no sockets, no servers, no Docker),
# tests/contract (real sockets), tests/integration (several components together), tests/container (the
# images; make container-test). The fast loop is the unit suite less its tests marked slow (full synths,
# checkov, trainings).
FAST_TESTS := tests/unit -m "not slow"
RUFF := $(VENV)/bin/ruff
# The type checker; what it checks and how: pyproject.toml, [tool.mypy]. Its cache (.mypy_cache) makes a rerun fast.
MYPY := $(VENV)/bin/mypy
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

# Prerequisites of `make test`; the included mk files add theirs.
TEST_PREREQS := $(VENV_STAMP)

# Variables given on the command line (`make plan ENV=prod MODEL=cnn`). Names this short are often set in
# a shell for something else (POSIX sh reads a start-up file from $ENV; PORT, MODEL and DATA are common),
# so a value of one of them that comes from the environment is ignored, with a warning: give it on the
# command line. Their defaults below are the ones every mk file uses.
COMMAND_LINE_ONLY := ENV MODEL DATA PORT TRACE TRACES ENDPOINT DAYS LABELS IMAGES AUDIO BASE BUILD
$(foreach v,$(COMMAND_LINE_ONLY),$(if $(filter environment,$(origin $(v))),\
	$(warning ignoring $(v)=$($(v)) from the environment: give it on the command line, make TARGET $(v)=...)\
	$(eval undefine $(v))))
# The environment a command acts on (cdk.json's dev or prod).
ENV ?= prod
# The model a command acts on (cnn or mlp).
MODEL ?= cnn
# The data sets the benchmarks train on (../shared/datasets: CIFAR-10's training split, spoken digits).
DATA ?= ../shared/datasets
# The port of a local server (make serve, make local): SageMaker's own, 8080.
PORT ?= 8080

# A package's version as the requirements file that is its one home pins it (NAME==VERSION), and a list of
# NAME==VERSION: $(call pinned,torch,requirements.txt), $(call pins,numpy starlette,inference/requirements.txt).
pinned = $(or $(shell sed -n 's/^$(1)==\([^ #]*\).*/\1/p' $(2)),$(error $(2) pins no $(1)))
pins = $(foreach p,$(1),$(p)==$(call pinned,$(p),$(2)))
# torch's version: pinned once, in requirements.txt. The PyTorch images get it as their build argument
# TORCH_VERSION (make images here, infra/images.py for cdk deploy), the serving peers' venvs as a pin.
TORCH_VERSION := $(call pinned,torch,requirements.txt)

# The mk files, in this order: infra.mk first, since the others name what it defines (NODE_STAMP,
# CHECKOV_STAMP, NO_AWS_CREDENTIALS) in their prerequisites, which make expands as it reads them.
# tests/unit/test_makefile.py fails when a file in mk/ is missing here.
MK_FILES := infra.mk audio.mk bench.mk containers.mk experiments.mk inference.mk k8s.mk local.mk monitor.mk \
	plan.mk release.mk review.mk serve_bench.mk

.PHONY: help install test test-fast lint
help:
	@echo "make test      install everything (idempotent), lint, and run the whole test suite in parallel"
	@echo "make test-fast the unit tests not marked slow, in parallel (under a minute)"
	@echo "make lint      ruff check, ruff format --check and mypy"
	@echo "make install   create .venv with the pinned dependencies"
	@grep -h '^## ' $(addprefix mk/,$(MK_FILES)) | sed 's/^## /make /'
	@echo
	@echo "$(COMMAND_LINE_ONLY): taken from the command line only (make plan ENV=prod);"
	@echo "the same names in your shell's environment are ignored, with a warning."

install: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS) $(PACKAGES)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e training -e inference
	touch $@

include $(addprefix mk/,$(MK_FILES))

lint: $(VENV_STAMP)
	$(RUFF) check .
	$(RUFF) format --check .
	$(MYPY)

test-fast: $(VENV_STAMP) $(NODE_STAMP)
	time $(PY) -m pytest $(PYTEST_PARALLEL) $(FAST_TESTS) $(PYTEST_ARGS)

test: lint $(TEST_PREREQS)
	time $(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)
