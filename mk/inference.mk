# Serving side: `make serve` runs the serving container's entry point on this machine.
MODEL_DIR ?= local/model/cnn

## serve MODEL_DIR=dir [PORT=8080]  serve a model artifact over HTTP (python -m inference serve)
.PHONY: serve
serve: $(VENV_STAMP)
	$(PY) -m inference serve --model-dir "$(abspath $(MODEL_DIR))" --port $(PORT)
