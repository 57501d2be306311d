"""SIGTERM with requests in flight: every request completes, the server exits 0 (also with 2 workers)."""

from __future__ import annotations

import http.client
import threading
import time

import numpy as np
import pytest

from tests.helpers.inference_fixtures import npy_bytes
from tests.helpers.inference_server import ServerProcess


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
