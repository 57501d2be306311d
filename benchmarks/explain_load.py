"""Prediction throughput and p99 with and without one explanation request per second in flight.

Against one running server: `hey` keeps `concurrency` prediction requests in flight for `seconds`,
once alone and once while a background thread sends one explanation request a second (integrated
gradients with the server's default steps, the same body, `X-Amzn-SageMaker-Custom-Attributes:
explain=integrated_gradients`). Explanations run outside the prediction batcher on their own thread
with one intra-op thread (inference.explain_serving); what is left to measure is how much CPU they
take from the predictions on the same cores. Explanation answers are counted by status (200, and
429 when the previous one still held the only slot) with their own latency.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.serve_load import run_hey

EXPLAIN_HEADER = {"X-Amzn-SageMaker-Custom-Attributes": "explain=integrated_gradients"}


class ExplanationTicker:
    """One explanation request per `interval_s` (a new one is sent on schedule even if the last one is
    still running; the server answers it 429)."""

    def __init__(self, url: str, body: bytes, content_type: str, interval_s: float = 1.0) -> None:
        self.url, self.body, self.content_type, self.interval_s = url, body, content_type, interval_s
        self.latencies_ms: list[float] = []
        self.statuses: dict[str, int] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _one(self) -> None:
        request = urllib.request.Request(
            self.url, data=self.body, method="POST", headers={"Content-Type": self.content_type, **EXPLAIN_HEADER}
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                status = str(response.status)
        except urllib.error.HTTPError as error:
            status = str(error.code)
        except OSError:
            status = "error"
        with self._lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == "200":
                self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            thread = threading.Thread(target=self._one, daemon=True)
            thread.start()
            self._threads.append(thread)
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> ExplanationTicker:
        self._runner = threading.Thread(target=self._run, daemon=True)
        self._runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._runner.join()
        for thread in self._threads:
            thread.join(timeout=60)

    def summary(self) -> dict[str, Any]:
        latencies = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "statuses": dict(sorted(self.statuses.items())),
            "explain_p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "explain_max_ms": round(float(latencies.max()), 1),
        }


def interference(url: str, body: Path, content_type: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """The prediction load point alone and with one explanation a second beside it."""
    alone = run_hey(url, body, content_type, concurrency, seconds)
    with ExplanationTicker(url, body.read_bytes(), content_type) as ticker:
        beside = run_hey(url, body, content_type, concurrency, seconds)
    return {
        "concurrency": concurrency,
        "seconds": seconds,
        "alone": {"rps": round(alone.rps, 1), "p99_ms": round(alone.p99_ms, 1), "errors": alone.errors},
        "with_explanations": {
            "rps": round(beside.rps, 1),
            "p99_ms": round(beside.p99_ms, 1),
            "errors": beside.errors,
            **ticker.summary(),
        },
    }


def markdown(models: dict[str, dict[str, Any]]) -> str:
    lines = [
        "",
        "### Predictions with and without 1 explanation/s in flight",
        "",
        "| model | concurrency | req/s alone | p99 alone (ms) | req/s with | p99 with (ms) | "
        "explanations (status: count) | explanation p50 (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, model in models.items():
        point = model.get("explain_interference")
        if not point:
            continue
        alone, beside = point["alone"], point["with_explanations"]
        statuses = ", ".join(f"{k}: {v}" for k, v in beside["statuses"].items())
        lines.append(
            f"| {name} | {point['concurrency']} | {alone['rps']} | {alone['p99_ms']} | {beside['rps']} | "
            f"{beside['p99_ms']} | {statuses} | {beside['explain_p50_ms']} |"
        )
    return "\n".join(lines)
