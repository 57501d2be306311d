#!/usr/bin/env bash
# Build the four images the CDK stacks deploy (serving and training, each for PyTorch and for TensorFlow)
# with Docker's layer cache, and print each one's size. IMAGES (default: all four) names the ones to
# build: inference-pytorch inference-tensorflow training-pytorch training-tensorflow.
#
# BUILD=local (the default; what `make images` and CI use) builds on a machine that reaches the
# package servers (Debian, PyPI) but no container registry and no other host:
#   PYTHON_IMAGE        LOCAL_BASE, a Debian bookworm base made by local-base.sh, not python:3.11-slim;
#   PIP_FIND_LINKS      WHEEL_DIR served on 127.0.0.1 for the build (`--network host`), so torch's CPU
#                       wheel comes from this disk instead of PyPI's CUDA build or PyTorch's own index;
#   TORCH_INDEX_URL     (PyTorch serving) PyPI, as PyTorch's index is not reachable; the same wheel file;
#   TENSORFLOW_PACKAGE  (training) tensorflow-cpu instead of tensorflow[and-cuda] (GBs of CUDA wheels).
# BUILD=public builds the Dockerfiles as they are, as `cdk deploy` does (needs Docker Hub and
# download.pytorch.org).
# TORCH_VERSION (required; make images reads it from requirements.txt, its one home) is the PyTorch images'
# build argument of that name.
# Builds use the classic builder (DOCKER_BUILDKIT=0): BuildKit needs the buildx plugin with newer
# clients, and a `# syntax=` line would make it pull its frontend image from a registry.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-local}
PREFIX=${IMAGE_PREFIX:-elasticml}
TAG=${IMAGE_TAG:-local}
LABEL=org.elasticml.build=$BUILD
: "${TORCH_VERSION:?TORCH_VERSION (the torch version pinned in requirements.txt) is required}"
export DOCKER_BUILDKIT=0

args=(--network host --label "$LABEL")
server=""
stop_server() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; }
trap stop_server EXIT

if [ "$BUILD" = local ]; then
    : "${LOCAL_BASE:?LOCAL_BASE (the image local-base.sh made) is required for BUILD=local}"
    : "${WHEEL_DIR:?WHEEL_DIR (a folder holding the torch wheel) is required for BUILD=local}"
    # A fixed port: the URL is a build argument, and a changed value would miss the layer cache.
    port=${WHEEL_PORT:-18765}
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "build-images: 127.0.0.1:$port (WHEEL_PORT) is taken; set WHEEL_PORT to a free port" >&2
        exit 1
    fi
    python3 -m http.server --bind 127.0.0.1 --directory "$WHEEL_DIR" "$port" >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    args+=(--build-arg "PYTHON_IMAGE=$LOCAL_BASE" --build-arg "PIP_FIND_LINKS=http://127.0.0.1:$port/")
elif [ "$BUILD" != public ]; then
    echo "build-images: BUILD must be local or public, got '$BUILD'" >&2
    exit 2
fi

build() {  # NAME CONTEXT [--build-arg K=V]...
    local name=$1 context=$2 log start
    shift 2
    log=$(mktemp)
    start=$(date +%s)
    if ! docker build "${args[@]}" "$@" -t "$name" "$context" >"$log" 2>&1; then
        echo "build-images: $name failed; the end of its build log:" >&2
        tail -n 40 "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
    printf 'build-images: %-38s %4d s  %6d MB\n' "$name" "$(($(date +%s) - start))" \
        "$(($(docker image inspect -f '{{.Size}}' "$name") / 1000000))"
}

local_only() { if [ "$BUILD" = local ]; then printf -- '--build-arg\n%s\n' "$@"; fi; }
mapfile -t serving_args < <(local_only TORCH_INDEX_URL=https://pypi.org/simple)
torch=(--build-arg "TORCH_VERSION=$TORCH_VERSION")
mapfile -t tensorflow_args < <(local_only TENSORFLOW_PACKAGE=tensorflow-cpu)

for image in ${IMAGES:-inference-pytorch inference-tensorflow training-pytorch training-tensorflow}; do
    case "$image" in
        inference-pytorch)
            build "$PREFIX-$image:$TAG" inference --build-arg FRAMEWORK=pytorch "${torch[@]}" \
                ${serving_args[@]+"${serving_args[@]}"} ;;
        inference-tensorflow) build "$PREFIX-$image:$TAG" inference --build-arg FRAMEWORK=tensorflow ;;
        training-pytorch) build "$PREFIX-$image:$TAG" training --build-arg FRAMEWORK=pytorch "${torch[@]}" ;;
        training-tensorflow)
            build "$PREFIX-$image:$TAG" training --build-arg FRAMEWORK=tensorflow \
                ${tensorflow_args[@]+"${tensorflow_args[@]}"} ;;
        *) echo "build-images: unknown image '$image' in IMAGES" >&2; exit 2 ;;
    esac
done
stop_server
server=""
# A rebuild leaves the previous image untagged; drop those (their shared layers stay).
docker image prune --force --filter "label=$LABEL" >/dev/null
