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
        self.forward_s: list[float] = []  # each pass's own time, measured in the same run as the waits

    def __call__(self, entry: str, batch: np.ndarray) -> np.ndarray:
        self.calls.append((entry, len(batch)))
        self.threads.add(threading.current_thread().name)
        started = time.perf_counter()
        time.sleep(self.delay_s)
        self.forward_s.append(time.perf_counter() - started)
        return batch * 10


def record_plans(batcher: MicroBatcher) -> list[tuple[int, float]]:
    """The (rows, longest wait) the batcher planned for each batch: what it decided, not how long a loaded
    machine took to carry it out."""
    plans: list[tuple[int, float]] = []
    plan = batcher._wait_plan

    def recording(entry: str) -> tuple[int, float]:
        plans.append(plan(entry))
        return plans[-1]

    batcher._wait_plan = recording  # type: ignore[method-assign]  # records the batcher's own plans
    return plans


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
    plans = record_plans(batcher)
    run(batcher, [("image", np.ones((1, 2), np.float32))])
    assert plans == [(0, 0.0)]
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


# --- adaptive wait: only under evident load, bounded ----------------------------------------------


def submit_later(batcher: MicroBatcher, delays_s: list[float]) -> float:
    """One 1-row request after each delay (seconds from the start, all awaited); returns the seconds taken."""

    async def main() -> None:
        async def one(delay: float) -> np.ndarray:
            await asyncio.sleep(delay)
            return await batcher.predict("image", np.zeros((1, 1), np.float32))

        await asyncio.gather(*(one(d) for d in delays_s))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def test_adaptive_wait_lets_a_lone_request_run_at_once():
    model = Recorder(delay_s=0.4)  # slow enough that a wait (up to 0.2 s) would show
    batcher = MicroBatcher(model, max_batch_size=8, adaptive_delay_s=0.5)
    plans = record_plans(batcher)
    batcher.start()
    try:
        for _ in range(3):  # concurrency 1, three times
            submit_later(batcher, [0.0])
    finally:
        batcher.stop(5)
    assert model.calls == [("image", 1)] * 3
    assert plans == [(0, 0.0)] * 3  # no wait: nothing said more rows were coming


def test_adaptive_wait_after_a_full_batch_waits_for_the_clients_to_come_back():
    model = Recorder(delay_s=0.3)  # a slow forward: the wait may be up to half of it
    batcher = MicroBatcher(model, max_batch_size=4, adaptive_delay_s=0.5)
    batcher.start()
    try:
        submit_later(batcher, [0.0, 0.0, 0.0, 0.0])  # one batch of 4
        # then the same 4 clients come back, spread over 60 ms: without the wait the first would run alone
        submit_later(batcher, [0.0, 0.02, 0.04, 0.06])
    finally:
        batcher.stop(5)
    assert model.calls == [("image", 4), ("image", 4)]


def test_without_adaptive_wait_the_stragglers_make_their_own_batch():
    """The counterpart of the test above: the same arrivals with the wait off split the batch."""
    model = Recorder(delay_s=0.3)
    batcher = MicroBatcher(model, max_batch_size=4)
    batcher.start()
    try:
        submit_later(batcher, [0.0, 0.0, 0.0, 0.0])
        submit_later(batcher, [0.0, 0.02, 0.04, 0.06])
    finally:
        batcher.stop(5)
    assert len(model.calls) > 2 and model.calls[1] == ("image", 1)


def test_adaptive_wait_is_bounded_by_its_setting():
    model = Recorder(delay_s=0.3)
    batcher = MicroBatcher(model, max_batch_size=4, adaptive_delay_s=0.05)
    plans = record_plans(batcher)
    batcher.start()
    try:
        submit_later(batcher, [0.0, 0.0, 0.0, 0.0])
        elapsed = submit_later(batcher, [0.0])  # only one client comes back
    finally:
        batcher.stop(5)
    assert model.calls == [("image", 4), ("image", 1)]
    assert plans[-1] == (4, 0.05)  # waits for the 4 rows, at most the 50 ms setting
    assert elapsed >= model.forward_s[-1] + 0.04  # and it did wait (a lower bound: load only adds)


def test_adaptive_wait_is_bounded_by_half_the_previous_forward():
    model = Recorder(delay_s=0.02)  # a fast model: waiting 500 ms would cost far more than a pass
    batcher = MicroBatcher(model, max_batch_size=4, adaptive_delay_s=0.5)
    plans = record_plans(batcher)
    batcher.start()
    try:
        submit_later(batcher, [0.0, 0.0, 0.0, 0.0])
        submit_later(batcher, [0.0])
    finally:
        batcher.stop(5)
    assert model.calls == [("image", 4), ("image", 1)]
    rows, wait = plans[-1]
    # about half the previous pass as measured in this run (the batcher times the pass with its own overhead),
    # far below the 0.5 s setting
    assert rows == 4 and 0 < wait < 0.6 * model.forward_s[0] < 0.5


def test_adaptive_wait_counts_the_rows_that_queued_behind_the_previous_pass():
    """Concurrency 6 seen as a pass of 4 with 2 queued behind it: the next batch waits for 6 rows
    (the 2 queued and the 4 answered clients coming back), not for the 4 of the previous pass."""
    model = Recorder(delay_s=0.3)
    batcher = MicroBatcher(model, max_batch_size=8, adaptive_delay_s=0.5)
    batcher.start()

    def one() -> asyncio.Future[np.ndarray]:
        return asyncio.ensure_future(batcher.predict("image", np.zeros((1, 1))))

    async def main() -> None:
        first = [one() for _ in range(4)]
        await asyncio.sleep(0.1)  # the pass of 4 runs; 2 more queue behind it
        late = [one() for _ in range(2)]
        await asyncio.gather(*first)
        await asyncio.sleep(0.03)
        back = [one() for _ in range(2)]  # the answered clients come back, two by two
        await asyncio.sleep(0.03)
        back += [one() for _ in range(2)]
        await asyncio.gather(*late, *back)

    try:
        asyncio.run(main())
    finally:
        batcher.stop(5)
    assert model.calls == [("image", 4), ("image", 6)]


def test_a_fixed_wait_still_waits_for_a_lone_first_request():
    """max_delay_s keeps its meaning next to the adaptive wait: every batch waits for a full one."""
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=4, max_delay_s=0.1, adaptive_delay_s=0.5)
    batcher.start()
    try:
        elapsed = submit_later(batcher, [0.0])
    finally:
        batcher.stop(5)
    assert model.calls == [("image", 1)]
    assert elapsed >= 0.09


# --- the server's start: what is loaded before serving stays out of the collector's way ---------


def test_the_objects_loaded_before_serving_are_frozen_out_of_the_collectors_sight():
    import gc

    from inference.app import freeze_loaded_objects

    before = gc.get_freeze_count()
    try:
        kept = [[i] for i in range(1000)]  # alive now, like a loaded model
        frozen = freeze_loaded_objects()
        assert frozen >= before + len(kept)
        collected = {id(x) for generation in range(3) for x in gc.get_objects(generation)}
        assert not any(id(x) in collected for x in kept)
    finally:
        gc.unfreeze()


class Gate(Recorder):
    """A fake model whose first forward pass waits until the test opens it; records each pass's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()
        self.started = threading.Event()
        self.batches: list[np.ndarray] = []

    def __call__(self, entry: str, batch: np.ndarray) -> np.ndarray:
        self.started.set()
        assert self.open.wait(10)
        self.batches.append(batch[:, 0].copy())
        return super().__call__(entry, batch)


def test_a_big_request_takes_turns_with_a_small_one_that_came_after_it():
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch_size=8)
    big = np.arange(64, dtype=np.float32)[:, None]  # 8 passes of 8 rows
    small = np.full((1, 1), -1.0, dtype=np.float32)

    async def main() -> tuple[np.ndarray, np.ndarray]:
        big_task = asyncio.ensure_future(batcher.predict("x", big))
        await asyncio.to_thread(gate.started.wait, 10)  # the big request's first pass is running
        small_task = asyncio.ensure_future(batcher.predict("x", small))
        await asyncio.sleep(0.05)  # the small request is queued behind the big one's remaining rows
        gate.open.set()
        return await big_task, await small_task

    batcher.start()
    try:
        big_answer, small_answer = asyncio.run(main())
    finally:
        batcher.stop(5)
    np.testing.assert_array_equal(big_answer, big * 10)
    np.testing.assert_array_equal(small_answer, small * 10)
    rows_before_small = next(i for i, rows in enumerate(gate.batches) if -1.0 in rows)
    # The first pass had started; the small request goes in the very next one, not after 56 more rows.
    assert rows_before_small == 1, [len(b) for b in gate.batches]
    assert max(len(b) for b in gate.batches) <= 8


def test_rows_of_a_cancelled_request_are_dropped_not_run():
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch_size=4)

    async def main() -> None:
        first = asyncio.ensure_future(batcher.predict("x", np.zeros((4, 1), np.float32)))
        await asyncio.to_thread(gate.started.wait, 10)
        doomed = asyncio.ensure_future(batcher.predict("x", np.ones((40, 1), np.float32)))
        await asyncio.sleep(0.05)
        doomed.cancel()  # its deadline passed
        await asyncio.sleep(0.05)
        gate.open.set()
        await first
        assert await batcher.predict("x", np.full((1, 1), 2.0, np.float32)) == 20.0

    batcher.start()
    try:
        asyncio.run(main())
    finally:
        batcher.stop(5)
    assert sum(len(b) for b in gate.batches) == 4 + 1, [len(b) for b in gate.batches]
