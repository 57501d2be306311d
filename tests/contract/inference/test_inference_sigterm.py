"""SIGTERM with requests in flight: every request completes, the server exits 0 (also with 2 workers).
SIGTERM while the explanation path is still loading: the server waits for the load and exits 0."""

from __future__ import annotations

import http.client
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from tests.helpers.explain_artifacts import build_explained_cnn
from tests.helpers.inference_fixtures import npy_bytes
from tests.helpers.inference_server import INFERENCE_DIR, ServerProcess


def _in_flight_then_sigterm(server: ServerProcess, requests: int) -> tuple[list[int], int | None, int]:
    """Statuses, exit code, and how many answers came after SIGTERM (in flight when it was sent)."""
    # 400 images per request keeps the single model thread busy for a while
    body = npy_bytes(np.random.default_rng(0).random((400, 3, 32, 32), dtype=np.float32))
    statuses: list[int] = []
    finished: list[float] = []
    sent = threading.Semaphore(0)

    def one() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("POST", "/invocations", body, {"Content-Type": "application/x-npy"})
            sent.release()
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            finished.append(time.monotonic())
        except Exception as error:  # a dropped request fails the test
            statuses.append(-1)
            print(repr(error))
            sent.release()
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert sent.acquire(timeout=30)
    time.sleep(0.05)  # the bodies are in the server, the forward passes queued (a quiet machine clears 12 in ~0.3 s)
    terminated = time.monotonic()
    server.terminate()
    code = server.process.wait(60)
    for thread in threads:
        thread.join(30)
    return statuses, code, sum(t > terminated for t in finished)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_in_flight_requests_and_exits_0(cnn_dir, tmp_path, workers):
    server = ServerProcess(cnn_dir, tmp_path / "server.log", args=["--workers", str(workers)]).start()
    try:
        statuses, code, after_sigterm = _in_flight_then_sigterm(server, requests=24)
    finally:
        server.stop()
    assert statuses == [200] * 24, server.log()
    print("in flight at SIGTERM:", after_sigterm)
    assert after_sigterm >= 3, f"only {after_sigterm} requests were still in flight at SIGTERM"
    assert code == 0, server.log()
    assert "Finished server process" in server.log() or "Shutting down" in server.log()


# A load that is inside torch (backward passes, the GIL released) for 3 s, and a shutdown 0.5 s into it.
_CLOSE_DURING_THE_LOAD = textwrap.dedent(
    """
    import asyncio, time
    import torch
    from inference.explain_serving import BackgroundExplainer
    from inference.served import ServedModel
    from inference.settings import ServeSettings

    def slow_load():
        x = torch.randn(256, 256, requires_grad=True)
        until = time.monotonic() + 3.0
        while time.monotonic() < until:
            (x @ x).sum().backward()
        return object()

    async def main():
        served = ServedModel(ServeSettings())
        served.explanations = BackgroundExplainer(slow_load)
        served.start_explanations()
        await asyncio.sleep(0.5)
        served.close()
        print("loaded" if served.explanations.explainer is not None else "still loading")

    asyncio.run(main())
    """
)


def test_a_shutdown_during_the_explanation_load_waits_for_it_and_exits_0():
    # Before the load was waited for, the interpreter ended its thread inside torch: std::terminate, 134.
    done = subprocess.run(
        [sys.executable, "-c", _CLOSE_DURING_THE_LOAD],
        cwd=INFERENCE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "loaded"


def test_sigterm_while_the_explanation_path_loads_exits_0(tmp_path):
    server = ServerProcess(build_explained_cnn(tmp_path / "model"), tmp_path / "server.log").start()
    try:
        assert server.ping()["explanations"] == "loading", server.log()
        time.sleep(0.5)  # into the load (about 1.5 s here): captum's import, the program, the warm-up pass
    finally:
        code = server.stop()
    assert code == 0, server.log()
