# Containers: build the four images the stacks deploy (serving and training, each per framework) and run
# them as SageMaker does (tests/container).
# Needs root on a fresh machine (installs docker.io and debootstrap, starts dockerd); see README,
# "Building and testing the images". Not part of `make test`: `.ci/run` calls container-test after it.
CONTAINER_CACHE := .cache/containers
WHEEL_DIR := $(CONTAINER_CACHE)/wheels
IMAGE_PREFIX ?= elasticml
IMAGE_TAG ?= local
# local: build on this machine with no registry (a Debian base made here, torch's CPU wheel from disk,
# tensorflow-cpu); public: the Dockerfiles as `cdk deploy` builds them.
BUILD ?= local
CONTAINER_PYTEST_ARGS ?=
# Which images `make images` builds (mk/containers/build-images.sh; empty: all four).
IMAGES ?=
TORCH_WHEEL_STAMP := $(WHEEL_DIR)/.torch-$(TORCH_VERSION)

.PHONY: docker-engine images container-test
docker-engine:
	@mk/containers/docker-engine.sh

# torch's wheel for the images' Python (3.11, x86_64), by pip's own configuration: on this machine kind
# the CPU build that lies on disk (PIP_FIND_LINKS), elsewhere PyPI's.
$(TORCH_WHEEL_STAMP): requirements.txt | $(VENV_STAMP)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		--python-version 3.11 --platform manylinux_2_28_x86_64 --dest $(WHEEL_DIR) torch==$(TORCH_VERSION)
	touch $@

## images [BUILD=local|public] [IMAGES=...]  build the serving and training images (pytorch, tensorflow), print their sizes
images: docker-engine $(if $(filter local,$(BUILD)),$(TORCH_WHEEL_STAMP))
	@start=$$(date +%s); \
	base=$$($(if $(filter local,$(BUILD)),mk/containers/local-base.sh $(IMAGE_PREFIX)-local-base,echo)) && \
	BUILD=$(BUILD) TORCH_VERSION=$(TORCH_VERSION) LOCAL_BASE=$$base WHEEL_DIR=$(abspath $(WHEEL_DIR)) IMAGE_PREFIX=$(IMAGE_PREFIX) \
		IMAGE_TAG=$(IMAGE_TAG) IMAGES="$(IMAGES)" mk/containers/build-images.sh && \
	echo "images: $$(($$(date +%s) - start)) s"

## container-test  run the images as SageMaker does: train (CNN, MLP), failure, SIGTERM/resume, serve (CNN on the PyTorch image, MLP on the TensorFlow one), drain
container-test: images $(VENV_STAMP)
	CONTAINER_TESTS=1 IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG) \
		$(PY) -m pytest tests/container $(CONTAINER_PYTEST_ARGS)

## bench-coldstart [IMAGE_TAG=...]  per serving image: docker run -> /ping -> first invocation, model-load time, docker load of a saved tarball (5 runs); writes benchmarks/results/coldstart-<date>.md
.PHONY: bench-coldstart
COLDSTART_ARGS ?=
bench-coldstart: IMAGES = inference-pytorch inference-tensorflow
bench-coldstart: images $(VENV_STAMP)
	$(PY) -m benchmarks.coldstart_bench --image-prefix $(IMAGE_PREFIX) --tag $(IMAGE_TAG) $(COLDSTART_ARGS)
