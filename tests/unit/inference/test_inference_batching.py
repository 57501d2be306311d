"""The micro-batcher: concurrent requests share forward passes, a lone request runs at once."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from inference.batching import MicroBatcher


class Recorder:
    """A fake model: row i of the answer is 10 * input row i; records the batch sizes it saw."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[str, int]] = []
        self.threads: set[str] = set()

    def __call__(self, entry: str, batch: np.ndarray) -> np.ndarray:
        self.calls.append((entry, len(batch)))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return batch * 10


def run(batcher: MicroBatcher, jobs: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.predict(entry, array) for entry, array in jobs))

    batcher.start()
    try:
        return asyncio.run(main())
    finally:
        batcher.stop(5)


def test_concurrent_requests_are_grouped_and_answered_with_their_own_rows():
    model = Recorder(delay_s=0.02)
    batcher = MicroBatcher(model, max_batch_size=8)
    jobs = [("image", np.full((1, 2), i, np.float32)) for i in range(20)]
    results = run(batcher, jobs)
    for i, result in enumerate(results):
        assert result.tolist() == [[10 * i, 10 * i]]
    assert sum(n for _, n in model.calls) == 20
    assert max(n for _, n in model.calls) == 8  # never more than max_batch_size rows
    assert len(model.calls) <= 5  # 20 requests in far fewer forward passes
    assert model.threads == {"model-forward"}


def test_a_lone_request_runs_at_once_with_no_added_delay():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=32, max_delay_s=0.0)
    start = time.perf_counter()
    run(batcher, [("image", np.ones((1, 2), np.float32))])
    assert time.perf_counter() - start < 0.2
    assert model.calls == [("image", 1)]


def test_a_batch_wait_collects_requests_that_arrive_later():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=4, max_delay_s=0.3)
    batcher.start()

    async def main() -> None:
        first = asyncio.ensure_future(batcher.predict("image", np.zeros((1, 1), np.float32)))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.predict("image", np.zeros((1, 1), np.float32)))
        await asyncio.gather(first, second)

    asyncio.run(main())
    batcher.stop(5)
    assert model.calls == [("image", 2)]


def test_entry_points_are_never_mixed_and_big_requests_run_whole():
    model = Recorder(delay_s=0.01)
    batcher = MicroBatcher(model, max_batch_size=4)
    jobs = [("waveform", np.zeros((1, 3))), ("features", np.zeros((1, 3))), ("waveform", np.zeros((10, 3)))] * 3
    results = run(batcher, jobs)
    assert [len(r) for r in results] == [1, 1, 10] * 3
    assert {entry for entry, _ in model.calls} == {"waveform", "features"}
    assert sum(n for entry, n in model.calls if entry == "waveform") == 33


def test_a_failing_forward_fails_its_requests_and_the_thread_carries_on():
    calls = []

    def flaky(entry: str, batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return batch

    batcher = MicroBatcher(flaky, max_batch_size=1)
    batcher.start()

    async def main() -> None:
        with pytest.raises(RuntimeError, match="boom"):
            await batcher.predict("image", np.zeros((1, 1)))
        assert (await batcher.predict("image", np.ones((1, 1)))).tolist() == [[1.0]]

    asyncio.run(main())
    batcher.stop(5)


def test_stop_finishes_queued_jobs_first():
    model = Recorder(delay_s=0.05)
    batcher = MicroBatcher(model, max_batch_size=1)
    results = run(batcher, [("image", np.full((1, 1), i)) for i in range(5)])
    assert [r.item() for r in results] == [0, 10, 20, 30, 40]
    assert not batcher._thread.is_alive()
