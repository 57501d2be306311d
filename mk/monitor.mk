# Drift and quality monitoring (docs/monitoring.md): the `monitor` entry point on local mode's captures,
# and the benchmark of its tests on generated shifts.
LABELS ?=

## monitor [MODEL=cnn|mlp] [LABELS=file]  drift report of local mode's captured requests (run `make local` first) into local/monitor/<model>/
.PHONY: monitor bench-drift
monitor: $(VENV_STAMP)
	$(PY) -m monitor --model-dir local/model/$(MODEL) --captures local/captures/$(MODEL) --output local/monitor/$(MODEL) $(if $(LABELS),--labels "$(LABELS)")

## bench-drift [DATA=../shared/datasets] [BENCH_ARGS=--windows 10]  power, false positives and CPU time of the drift tests (trains two small models first, once)
bench-drift: $(VENV_STAMP)
	nice -n 10 $(PY) -m benchmarks.drift.models --data "$(DATA)"
	nice -n 10 $(PY) -m benchmarks.drift.bench --data "$(DATA)" $(BENCH_ARGS)
