"""Dynamic micro-batching: concurrent requests share one forward pass on a dedicated thread.

The event loop hands each decoded `Part` to the queue and awaits a future. The model thread takes
the first waiting job, then everything that queued up meanwhile for the same entry point, up to
`max_batch_size` rows, optionally waiting for more:

- fixed wait (`max_delay_s` > 0): always wait up to `max_delay_s` for a full batch. Fills batches
  under load, but a lone request pays the whole wait.
- adaptive wait (`adaptive_delay_s` > 0, the server's default): wait only when load is evident, i.e.
  when the previous forward pass of this entry point and the rows queued behind it when it ended
  come to more rows than are queued now (the clients just answered are likely to come back: in a
  closed loop they send their next request as soon as they are answered), and then only until that
  many rows (at most `max_batch_size`) are queued, `adaptive_delay_s` has passed, or a fraction
  (`ADAPTIVE_WAIT_FRACTION`) of the previous forward pass's duration has passed, whichever comes
  first. A lone request after a lone request never waits (no added latency at concurrency 1); at
  concurrency 32 the batch is not split into a small one run at once and the stragglers after it.
- neither (both 0): the requests that arrived during one forward pass make up the next batch.

Fairness: a request's rows are queued as chunks of at most `max_batch_size` rows, and each batch
starts with the request whose turn is oldest (a request's turn: the batch that last served it, or
for one not served yet, just before the batch formed when it arrived: round robin), so a request of a thousand
rows takes turns with the others instead of holding the model for all of its rows. A job whose
request was cancelled (its deadline passed, its client left) is dropped, not run.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

Run = Callable[[str, np.ndarray], np.ndarray]

# The adaptive wait never exceeds this fraction of the previous forward pass of the same entry point:
# waiting longer than a forward pass takes costs more than running two passes (a fast model, e.g. the
# MLP at ~3 ms a batch, waits well under a millisecond; the CNN, ~100 ms a batch, the full bound).
ADAPTIVE_WAIT_FRACTION = 0.5


@dataclass
class _Job:
    entry: str
    array: np.ndarray
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[np.ndarray]
    request: object = None  # the request the rows belong to (fairness between requests)


_STOP = object()


def _resolve(future: asyncio.Future[np.ndarray], result: np.ndarray | None, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None  # a batch that raised nothing answered every row
        future.set_result(result)


def _resolve_all(answers: list[tuple[asyncio.Future[np.ndarray], np.ndarray | None, BaseException | None]]) -> None:
    for future, result, error in answers:
        _resolve(future, result, error)


def _notify(batch: list[_Job], results: list[np.ndarray | None], error: BaseException | None) -> None:
    """Hand a batch's answers to the event loop in one wake-up per loop (not one per job): each
    cross-thread wake-up is a GIL hand-over, costly on 2 cores (benchmarks/results/serve_regression.md)."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for job, result in zip(batch, results, strict=True):
        by_loop.setdefault(job.loop, []).append((job.future, result, error))
    for loop, answers in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, answers)
        except RuntimeError:  # the event loop has closed: nobody waits for these answers any more
            pass


class MicroBatcher:
    def __init__(
        self, run: Run, max_batch_size: int = 32, max_delay_s: float = 0.0, adaptive_delay_s: float = 0.0
    ) -> None:
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.adaptive_delay_s = adaptive_delay_s
        # Per entry point: rows in and queued behind the previous forward pass, and how long it took.
        self._last_load: dict[str, int] = {}
        self._last_forward_s: dict[str, float] = {}
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending: deque[_Job] = deque()
        self._turns: dict[int, float] = {}  # request -> its turn (see the module's docstring)
        self._turn = 0  # batches formed
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="model-forward", daemon=True)
        self.batches = 0  # forward passes run, for tests and logs
        self.rows = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish the queued jobs, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    async def predict(self, entry: str, array: np.ndarray, request: object = None) -> np.ndarray:
        """Probabilities for `array`'s rows, queued in chunks of at most `max_batch_size` rows under
        `request` (by default, a request of its own)."""
        loop = asyncio.get_running_loop()
        request = object() if request is None else request
        if len(array) <= self.max_batch_size:
            future: asyncio.Future[np.ndarray] = loop.create_future()
            self._queue.put(_Job(entry, array, loop, future, request))
            return await future
        futures = []
        for start in range(0, len(array), self.max_batch_size):
            futures.append(loop.create_future())
            self._queue.put(_Job(entry, array[start : start + self.max_batch_size], loop, futures[-1], request))
        try:
            return np.concatenate(await asyncio.gather(*futures))
        finally:
            for future in futures:
                future.cancel()  # cancelled (a deadline): the model thread drops what is still queued

    def _take(self, block: bool, timeout: float | None = None) -> bool:
        """Move one item from the queue to pending; False when none came."""
        try:
            item = self._queue.get(block, timeout)
        except queue.Empty:
            return False
        if item is _STOP:
            self._stopping = True
        else:
            assert isinstance(item, _Job)  # the queue holds jobs and the stop sentinel only
            self._pending.append(item)
            self._turns.setdefault(id(item.request), self._turn - 0.5)
        return True

    def _rows_for(self, entry: str) -> int:
        return sum(len(job.array) for job in self._pending if job.entry == entry)

    def _wait_plan(self, entry: str) -> tuple[int, float]:
        """(rows to wait for, longest wait in seconds) for the next batch of `entry`."""
        if self.max_delay_s > 0:
            return self.max_batch_size, self.max_delay_s
        if self.adaptive_delay_s <= 0:
            return 0, 0.0
        expected = min(self.max_batch_size, self._last_load.get(entry, 1))
        if expected <= 1:  # no evidence of load: run at once
            return 0, 0.0
        return expected, min(self.adaptive_delay_s, ADAPTIVE_WAIT_FRACTION * self._last_forward_s.get(entry, 0.0))

    def _collect(self) -> None:
        while self._take(block=False):
            pass
        if self._stopping:
            return
        entry = self._pending[0].entry
        target, wait = self._wait_plan(entry)
        if wait <= 0:
            return
        deadline = time.monotonic() + wait
        while self._rows_for(entry) < target and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._take(block=True, timeout=remaining):
                return

    def _drop_cancelled(self) -> None:
        """Forget the jobs nobody waits for any more (a request past its deadline, a client gone).
        Reading a future's state from this thread is a benign race: at worst a job cancelled this
        instant runs once more."""
        if any(job.future.done() for job in self._pending):
            self._pending = deque(job for job in self._pending if not job.future.done())

    def _order(self) -> list[_Job]:
        """Pending jobs, each request's in arrival order, the requests served longest ago first."""
        by_request: dict[int, list[_Job]] = {}
        for job in self._pending:
            by_request.setdefault(id(job.request), []).append(job)
        if len(by_request) == 1:
            return list(self._pending)
        turns = sorted(by_request, key=lambda request: self._turns.get(request, self._turn))  # stable: arrivals
        return [job for request in turns for job in by_request[request]]

    def _next_batch(self) -> list[_Job]:
        order = self._order()
        entry = order[0].entry
        batch: list[_Job] = []
        rows = 0
        for job in order:
            if job.entry != entry:
                continue
            if batch and rows + len(job.array) > self.max_batch_size:
                break
            batch.append(job)
            rows += len(job.array)
        taken = {id(job) for job in batch}
        self._pending = deque(job for job in self._pending if id(job) not in taken)
        self._turn += 1
        for job in batch:
            self._turns[id(job.request)] = self._turn
        waiting = {id(job.request) for job in self._pending}
        self._turns = {request: turn for request, turn in self._turns.items() if request in waiting}
        return batch

    def _serve(self) -> None:
        while True:
            if not self._pending:
                if self._stopping:
                    return
                self._take(block=True)
                continue
            self._collect()
            self._drop_cancelled()
            if not self._pending:
                continue
            batch = self._next_batch()
            self._forward(batch)

    def _forward(self, batch: list[_Job]) -> None:
        arrays = [job.array for job in batch]
        entry = batch[0].entry
        started = time.monotonic()
        try:
            probabilities = self._run(entry, np.concatenate(arrays) if len(arrays) > 1 else arrays[0])
        except Exception as error:  # a model fault: every request of the batch gets it
            log.exception("forward pass of %d rows failed", sum(map(len, arrays)))
            _notify(batch, [None] * len(batch), error)
            return
        self._last_forward_s[entry] = time.monotonic() - started
        # The load seen by this pass: its own rows (their clients may come back at once) and the rows
        # that queued up while it ran (they are there already).
        while self._take(block=False):
            pass
        self._last_load[entry] = len(probabilities) + self._rows_for(entry)
        self.batches += 1
        self.rows += len(probabilities)
        results: list[np.ndarray | None] = []
        start = 0
        for job in batch:
            results.append(probabilities[start : start + len(job.array)])
            start += len(job.array)
        _notify(batch, results, None)
