"""The forward pass in its own process (`INFERENCE_MODEL_PROCESS=1`, inference.forward_process): the same
answers as the model thread, a child process that owns the model, and the same clean stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.helpers.inference_fixtures import npy_bytes, png_bytes, random_pixels
from tests.helpers.inference_server import ServerProcess


def model_processes(pid: int) -> list[int]:
    """The children of `pid` started by multiprocessing's spawn (not its resource tracker), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid and b"spawn_main" in command:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped
    except OSError:
        return True


@pytest.fixture(scope="module")
def process_server(cnn_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "model-process.log"
    server = ServerProcess(cnn_dir, log, env={"INFERENCE_MODEL_PROCESS": "1"}).start()
    yield server
    server.stop()


def probabilities(url: str, body: bytes, content_type: str) -> np.ndarray:
    response = httpx.post(url + "/invocations", content=body, headers={"Content-Type": content_type}, timeout=30)
    assert response.status_code == 200, response.text
    return np.array([p["probabilities"] for p in response.json()["predictions"]])


@pytest.mark.slow
def test_the_model_process_answers_as_the_model_thread_does(
    process_server: ServerProcess, cnn_server: ServerProcess
) -> None:
    assert len(model_processes(process_server.process.pid)) == 1, "no child process holds the model"
    body = png_bytes(random_pixels(7))
    assert np.allclose(
        probabilities(process_server.url, body, "image/png"),
        probabilities(cnn_server.url, body, "image/png"),
        atol=1e-6,
    )
    batch = npy_bytes(np.random.default_rng(0).uniform(0, 1, (40, 3, 32, 32)).astype(np.float32))  # 2 forward passes
    expected = probabilities(cnn_server.url, batch, "application/x-npy")
    with ThreadPoolExecutor(8) as pool:  # concurrent requests share the child's batches
        answers = list(pool.map(lambda _: probabilities(process_server.url, batch, "application/x-npy"), range(8)))
    for answer in answers:
        assert np.allclose(answer, expected, atol=1e-5)
    assert process_server.ping()["forward_passes"] >= 2


@pytest.mark.slow
def test_sigterm_stops_the_model_process_too(cnn_dir: Path, tmp_path: Path) -> None:
    server = ServerProcess(cnn_dir, tmp_path / "server.log", env={"INFERENCE_MODEL_PROCESS": "1"}).start()
    (child,) = model_processes(server.process.pid)
    assert probabilities(server.url, png_bytes(random_pixels(1)), "image/png").shape == (1, 4)
    assert server.stop() == 0, server.log()
    deadline = time.monotonic() + 10
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(child), "the model process outlived the server"
