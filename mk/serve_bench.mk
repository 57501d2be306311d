# Serving benchmark: the inference server against the raw model and the serving peers (LitServe, Ray Serve,
# BentoML, TorchServe, KServe's Python model server), over HTTP with hey.
# Each peer lives in its own venv, so its dependencies never change the server under test (and the peers'
# pins, which clash with each other, never meet). The frameworks' and the server's pins are .venv's, read
# from the files that pin them there. Each peer venv serves both models (the CNN and the MLP, one after the
# other), so it holds both frameworks, as .venv does; the serving images hold one each.
PIN_FILES := requirements.txt inference/requirements.txt inference/requirements-pytorch.txt \
	inference/requirements-tensorflow.txt
PEER_BASE := torch==$(TORCH_VERSION) $(call pins,tensorflow-cpu scipy,inference/requirements-tensorflow.txt) \
	$(call pins,numpy,inference/requirements.txt) $(call pins,pillow,inference/requirements-pytorch.txt)
LITSERVE_VENV := .venv-litserve
LITSERVE_STAMP := $(LITSERVE_VENV)/.installed
LITSERVE_PINS := litserve==0.2.19 python-multipart==0.0.34 $(PEER_BASE) \
	$(call pins,starlette uvicorn anyio uvloop httptools,inference/requirements.txt)
SERVE_BENCH_ARGS ?=

$(LITSERVE_STAMP): mk/serve_bench.mk inference/pyproject.toml $(PIN_FILES)
	test -x $(LITSERVE_VENV)/bin/python || $(PYTHON) -m venv $(LITSERVE_VENV)
	$(LITSERVE_VENV)/bin/pip install --quiet --disable-pip-version-check $(LITSERVE_PINS)
	$(LITSERVE_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e inference
	touch $@

# The other peers: .venv-peers-NAME each, installed once per change of this file. A peer whose install fails
# does not fail the benchmark: its pip output's tail goes to .venv-peers-NAME/.failed, which the benchmark
# reports as the reason it is missing (benchmarks/peers.py). TorchServe also needs a JDK 17 (Debian's
# openjdk-17-jre-headless); the benchmark reports it missing where `java` is not on PATH.
PEERS := ray bentoml torchserve kserve
PEER_PINS_ray := ray[serve]==2.60.0
PEER_PINS_bentoml := bentoml==1.4.40
# torchserve 0.12 imports yaml without declaring it: pyyaml.
PEER_PINS_torchserve := torchserve==0.12.0 torch-model-archiver==0.12.0 $(call pins,pyyaml,requirements-dev.txt) \
	$(call pins,starlette anyio,inference/requirements.txt)
PEER_PINS_kserve := kserve==0.21.0
PEER_STAMPS := $(foreach peer,$(PEERS),.venv-peers-$(peer)/.installed)

.venv-peers-%/.installed: mk/serve_bench.mk inference/pyproject.toml $(PIN_FILES)
	@test -x .venv-peers-$*/bin/python || $(PYTHON) -m venv .venv-peers-$*
	@rm -f .venv-peers-$*/.failed
	@echo "installing peer $* into .venv-peers-$* (log: .venv-peers-$*/install.log)"
	@if .venv-peers-$*/bin/pip install --disable-pip-version-check $(PEER_BASE) $(PEER_PINS_$*) \
			> .venv-peers-$*/install.log 2>&1 \
		&& .venv-peers-$*/bin/pip install --disable-pip-version-check --no-deps -e inference \
			>> .venv-peers-$*/install.log 2>&1; then \
		echo "peer $* installed"; \
	else \
		grep -v '^WARNING: Location' .venv-peers-$*/install.log | tail -n 15 > .venv-peers-$*/.failed; \
		echo "peer $* NOT installed (the benchmark reports it missing): see .venv-peers-$*/.failed"; \
	fi
	@touch $@

## bench-serve-peers  install the serving peers into .venv-peers-* (idempotent; a failed one is reported, not fatal)
.PHONY: bench-serve-peers
bench-serve-peers: $(LITSERVE_STAMP) $(PEER_STAMPS)

.PHONY: bench-serve-tools
bench-serve-tools:
	@command -v hey >/dev/null || (apt-get update -qq && apt-get install -y -qq hey)

## bench-serve [SERVE_BENCH_ARGS=--quick]  server vs raw model vs LitServe, Ray Serve, BentoML, TorchServe, KServe at c=1, 8, 32 (~25 min); writes benchmarks/results/serve.* and benchmarks/serving_capacity.json
.PHONY: bench-serve
bench-serve: $(VENV_STAMP) bench-serve-peers bench-serve-tools
	$(PY) -m benchmarks.serve_bench $(SERVE_BENCH_ARGS)
