# Serving benchmark: the inference server against the raw model and LitServe, over HTTP with hey.
# LitServe lives in its own venv, so its dependencies never change the server under test. Same torch,
# tensorflow, uvicorn, uvloop and httptools pins as .venv: both servers run uvicorn on uvloop + httptools.
LITSERVE_VENV := .venv-litserve
LITSERVE_STAMP := $(LITSERVE_VENV)/.installed
LITSERVE_PINS := litserve==0.2.19 python-multipart==0.0.34 torch==2.13.0 tensorflow-cpu==2.21.0 \
	numpy==2.4.6 pillow==13.0.0 scipy==1.17.1 starlette==1.10.0 uvicorn==0.54.0 anyio==4.16.0 \
	uvloop==0.23.0 httptools==0.9.0
SERVE_BENCH_ARGS ?=

$(LITSERVE_STAMP): mk/serve_bench.mk inference/pyproject.toml
	test -x $(LITSERVE_VENV)/bin/python || $(PYTHON) -m venv $(LITSERVE_VENV)
	$(LITSERVE_VENV)/bin/pip install --quiet --disable-pip-version-check $(LITSERVE_PINS)
	$(LITSERVE_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e inference
	touch $@

.PHONY: bench-serve-tools
bench-serve-tools:
	@command -v hey >/dev/null || (apt-get update -qq && apt-get install -y -qq hey)

## bench-serve [SERVE_BENCH_ARGS=--quick]  server vs raw model vs LitServe at concurrency 1-64 (~8 min); writes benchmarks/results/serve.* and benchmarks/serving_capacity.json
.PHONY: bench-serve
bench-serve: $(VENV_STAMP) $(LITSERVE_STAMP) bench-serve-tools
	$(PY) -m benchmarks.serve_bench $(SERVE_BENCH_ARGS)
