"""The serving images run as SageMaker hosting runs them: `docker run IMAGE serve`, read-only, the model
mounted read-only at /opt/ml/model (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html),
serving the artifacts the training images wrote: the CNN on the PyTorch serving image, the MLP on the
TensorFlow one. Ports are published on 127.0.0.1 only.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import docker_cli
from tests.helpers.containers import REPO, SERVING_IMAGE, InFlightRequests, datasets
from tests.helpers.inference_server import ServerProcess  # the same server, run on the host

# SageMaker's container startup health check can be given 60 to 3600 s
# (ContainerStartupHealthCheckTimeoutInSeconds,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html): ready within the
# smallest. This machine's readiness is measured and printed; the README records it.
STARTUP_LIMIT_S = 60
# Root, and the image's own user: SageMaker expects containers to run as root (the page above).
USERS = {"image-user": [], "root": ["--user", "0:0"]}
# What each serving image must not hold: the other framework and what only the other model kind needs.
ABSENT = {
    "inference-pytorch": ("tensorflow", "keras", "scipy"),
    "inference-tensorflow": ("torch", "captum", "PIL", "matplotlib", "keras", "libclang"),
}


def serve(image: str, model_dir: Path, options: list[str] = ()) -> tuple[docker_cli.Container, str, float]:
    """`docker run -d --read-only --tmpfs /tmp -p 127.0.0.1::8080 -v MODEL:/opt/ml/model:ro IMAGE serve`:
    the container, its URL and the seconds from `docker run` to the first 200 from /ping."""
    started = time.monotonic()
    container = docker_cli.Container.start(
        image,
        ["serve"],
        label="serve",
        options=[
            "--read-only",
            "--tmpfs",
            "/tmp",
            "-p",
            "127.0.0.1::8080",
            "-v",
            f"{model_dir}:/opt/ml/model:ro",
            *options,
        ],
    )
    try:
        url = f"http://127.0.0.1:{container.host_port()}"
        ready = docker_cli.wait_for_ping(url, container, timeout_s=STARTUP_LIMIT_S)
    except Exception:
        container.remove()
        raise
    return container, url, ready - started


def client_predictions(url: str, inputs: Path) -> list[dict]:
    """The client in `--url` mode (boto3 sagemaker-runtime, endpoint_url set), as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "inference.client", "--url", url, "--json", "--top-k", "3", str(inputs)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO / "inference",
        env={
            "PATH": "/usr/bin:/bin",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def model_dirs(cnn_run, mlp_run) -> dict[str, Path]:
    for run in (cnn_run, mlp_run):
        assert run.exit_code == 0, run.output[-3000:]
    return {"cnn": cnn_run.model_dir, "mlp": mlp_run.model_dir}


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files neither model trained on: cifar10-dev images past the training subset, the fourth speaker."""
    folders = {kind: tmp_path_factory.mktemp(kind) for kind in ("cnn", "mlp")}
    for folder in sorted((datasets() / "cifar10-dev").iterdir())[:4]:
        path = sorted(folder.glob("*.jpg"))[2000]
        shutil.copy(path, folders["cnn"] / f"{folder.name}_{path.name}")
    for digit in (0, 3, 7):
        shutil.copy(datasets() / "fsdd-dev" / f"{digit}_theo_0.wav", folders["mlp"])
    return folders


@pytest.fixture(scope="session")
def host_predictions(model_dirs, inputs, tmp_path_factory) -> Iterator[dict[str, list[dict]]]:
    """The same inputs through the same server run on this machine (`python -m inference serve`)."""
    answers = {}
    for kind, model_dir in model_dirs.items():
        server = ServerProcess(model_dir, tmp_path_factory.mktemp("host") / f"{kind}.log").start()
        try:
            answers[kind] = client_predictions(server.url, inputs[kind])
        finally:
            assert server.stop() == 0, server.log()
    yield answers


@pytest.mark.parametrize("user", list(USERS))
@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_served_read_only_it_answers_ping_and_predicts_as_the_host_run_server(
    images, model_dirs, inputs, host_predictions, kind, user
):
    container, url, ready_s = serve(images[SERVING_IMAGE[kind]], model_dirs[kind], USERS[user])
    try:
        print(f"{kind} as {user}: /ping 200 after {ready_s:.2f} s")
        predictions = client_predictions(url, inputs[kind])
        code, _ = container.stop(grace_s=30)
        logs = container.logs()
    finally:
        container.remove()
    assert code == 0, logs[-3000:]
    expected = host_predictions[kind]
    assert [Path(p["file"]).name for p in predictions] == [Path(p["file"]).name for p in expected]
    for got, want in zip(predictions, expected, strict=True):
        assert "error" not in got, got
        assert [p["label"] for p in got["predictions"]] == [p["label"] for p in want["predictions"]]
        np.testing.assert_allclose(
            [p["probability"] for p in got["predictions"]], [p["probability"] for p in want["predictions"]], atol=1e-4
        )


def test_docker_stop_under_load_drains_in_flight_requests_and_exits_0(images, model_dirs):
    """SageMaker stops a serving container with SIGTERM and SIGKILL 30 s later (the page above)."""
    container, url, _ = serve(images[SERVING_IMAGE["cnn"]], model_dirs["cnn"])
    port = int(url.rsplit(":", 1)[1])
    body = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, body)
    payload = buffer.getvalue()
    load = InFlightRequests(port, payload)
    try:
        load.start()
        time.sleep(0.3)  # the bodies are in the server, the forward passes queued
        stopping = time.monotonic()
        code, seconds = container.stop(grace_s=30)
        load.join()
        logs = container.logs()
    finally:
        container.remove()
    after = sum(t > stopping for t in load.finished)
    print(f"docker stop -t 30 under load: exit {code} after {seconds:.1f} s, {after} of 12 answered after SIGTERM")
    assert load.statuses == [200] * 12, logs[-3000:]
    assert after >= 1, "no request was in flight at SIGTERM"
    assert code == 0, logs[-3000:]


def test_docker_stop_while_the_model_loads_exits_0_at_once(images, model_dirs):
    """A SIGTERM before the server has its handlers (Python start, imports, model load) still ends the
    container: as PID 1 the program would ignore it, and be SIGKILLed (137) after the 30 s."""
    container = docker_cli.Container.start(
        images[SERVING_IMAGE["cnn"]],
        ["serve"],
        label="early-stop",
        options=["--read-only", "--tmpfs", "/tmp", "-v", f"{model_dirs['cnn']}:/opt/ml/model:ro"],
    )
    try:
        time.sleep(0.3)
        code, seconds = container.stop(grace_s=30)
        logs = container.logs()
    finally:
        container.remove()
    print(f"docker stop during startup: exit {code} after {seconds:.1f} s")
    assert code == 0, logs[-3000:]


@pytest.mark.parametrize("name", list(ABSENT))
def test_each_serving_image_holds_nothing_of_the_other_framework(images, name):
    """Not importable, not installed: what the Dockerfile's FRAMEWORK left out of this image."""
    code = (
        "import importlib.util, json; "
        f"print(json.dumps([m for m in {list(ABSENT[name])!r} if importlib.util.find_spec(m) is not None]))"
    )
    result = docker_cli.run(images[name], ["python", "-c", code], timeout_s=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == [], result.stdout
    size = int(docker_cli.docker("image", "inspect", "-f", "{{.Size}}", images[name], timeout_s=60).stdout)
    print(f"{name}: {size / 1e6:,.0f} MB")
