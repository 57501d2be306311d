# Capacity planning: the planner (planner/) simulates SageMaker autoscaling on a traffic trace and
# writes a plan file per environment and model that the serving stack declares (infra/capacity_plan.py).
TRACE ?=
ENDPOINT ?=
DAYS ?= 14
PEAK_INSTANCES ?= 0
TRACES ?= ../shared/traces
PLAN_ARGS ?=

## plan ENV=prod MODEL=cnn TRACE=file.csv | ENDPOINT=name [DAYS=14] [PEAK_INSTANCES=8]  write planner/plans/ENV-MODEL.json
.PHONY: plan bench-plan
plan: $(VENV_STAMP)
	@test -n "$(TRACE)$(ENDPOINT)" || { echo "make plan: give TRACE=file.csv (timestamp,count) or ENDPOINT=name (CloudWatch)"; exit 2; }
	$(PY) -m planner plan --env $(ENV) --model $(MODEL) $(if $(TRACE),--trace "$(TRACE)",--endpoint "$(ENDPOINT)" --days $(DAYS)) \
		--peak-instances $(PEAK_INSTANCES) $(PLAN_ARGS)

## bench-plan [TRACES=../shared/traces]  the six policies on every multi-week trace (peak = 8 instances); benchmarks/results/plan.*
bench-plan: $(VENV_STAMP)
	time $(PY) -m planner bench --env $(ENV) --model $(MODEL) --traces "$(TRACES)" $(PLAN_ARGS)

.PHONY: bench-capacity-tools bench-capacity
bench-capacity-tools:
	@command -v tsung >/dev/null || (apt-get update -qq && apt-get install -y -qq tsung)

## bench-capacity [CAPACITY_ARGS=...]  open-loop knee per model (tsung) and the Azure trace replayed; benchmarks/results/open_loop.* and the capacity file
CAPACITY_ARGS ?=
bench-capacity: $(VENV_STAMP) bench-capacity-tools
	$(PY) -m benchmarks.open_loop $(CAPACITY_ARGS)
