# Benchmarks: scripts that print and record measured figures (never timed unit tests).
BENCH_ARGS ?=
SECURITY_BENCH_ARGS ?=

## bench-train [DATA=../shared/datasets] [BENCH_ARGS=--quick]  training throughput, DDP scaling, checkpoint cost, quality, CNN frontier plot
.PHONY: bench bench-train bench-frontier
bench-train: $(VENV_STAMP) bench-frontier
	$(PY) -m benchmarks.train_bench --data "$(DATA)" $(BENCH_ARGS)

## bench-frontier  the CNN frontier table (training/training/models/cnn_frontier.json) as benchmarks/results/cnn_frontier.png
bench-frontier: $(VENV_STAMP)
	$(PY) -m benchmarks.cnn_frontier_plot

## bench  every benchmark but bench-coldstart (which builds the images in Docker), one after another (hours); results in benchmarks/results/
# In this order: bench-capacity measures the servers bench-serve measured, and bench-plan plans with the
# capacity file those two write. tests/unit/test_makefile.py fails when a bench-* target is left out
# without a reason given there.
bench: bench-train bench-serve bench-capacity bench-plan bench-drift bench-security

## bench-security [DATA=../shared/datasets] [SECURITY_BENCH_ARGS=--quick]  robustness, membership inference and their cost per job, with and without adversarial training
.PHONY: bench-security
bench-security: $(VENV_STAMP)
	nice -n 10 $(PY) -m benchmarks.security_bench --data "$(DATA)" $(SECURITY_BENCH_ARGS)
