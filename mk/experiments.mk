# Experiments: `python -m experiments launch|deploy|teardown` with the SageMaker Python SDK v3.
# The SDK gets its own venv, like checkov: sagemaker-core pins protobuf<7 and rich<15, older than what
# the main .venv's tensorflow-cpu and keras hold. `make test` runs tests/unit/experiments in it (the main
# .venv does not collect them: tests/unit/experiments/conftest.py).
EXPERIMENTS_VENV := .venv-experiments
EXPERIMENTS_PY := $(EXPERIMENTS_VENV)/bin/python
EXPERIMENTS_STAMP := $(EXPERIMENTS_VENV)/.installed
EXPERIMENTS_PYTEST_ARGS ?=
EXPERIMENTS_ARGS ?= --help

$(EXPERIMENTS_STAMP): experiments/requirements.txt experiments/constraints.txt
	test -x $(EXPERIMENTS_PY) || $(PYTHON) -m venv $(EXPERIMENTS_VENV)
	$(EXPERIMENTS_PY) -m pip install --quiet --disable-pip-version-check -r experiments/requirements.txt
	touch $@

## experiments EXPERIMENTS_ARGS="launch --model cnn --train s3://... --dry-run"  python -m experiments in .venv-experiments
.PHONY: experiments experiments-test
experiments: $(EXPERIMENTS_STAMP)
	$(EXPERIMENTS_PY) -m experiments $(EXPERIMENTS_ARGS)

## experiments-test  the experiments tests alone (botocore-stubbed AWS; part of make test)
experiments-test: $(EXPERIMENTS_STAMP)
	$(EXPERIMENTS_PY) -m pytest tests/unit/experiments $(EXPERIMENTS_PYTEST_ARGS)

TEST_PREREQS += experiments-test
