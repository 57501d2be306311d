# Benchmarks: scripts that print and record measured figures (never timed unit tests).
DATA ?= ../shared/datasets
BENCH_ARGS ?=

## bench-train [DATA=../shared/datasets] [BENCH_ARGS=--quick]  training throughput, DDP scaling, checkpoint cost, quality
.PHONY: bench bench-train
bench-train: $(VENV_STAMP)
	$(PY) -m benchmarks.train_bench --data "$(DATA)" $(BENCH_ARGS)

## bench  every benchmark (results in benchmarks/results/)
bench: bench-train bench-serve
