"""How explanation requests are served beside predictions, never inside them.

- A request with `explain=<method>` bypasses the micro-batcher: it runs on a thread pool of its own
  (`max_concurrent_explanations` threads, setting `INFERENCE_MAX_CONCURRENT_EXPLANATIONS`, default 1).
- A request that finds every slot taken is answered at once `429 Too Many Requests` with
  `Retry-After` (RFC 6585 section 4, https://www.rfc-editor.org/rfc/rfc6585#section-4; the value in
  seconds, RFC 9110 section 10.2.3, https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3): the
  mean duration of recent explanations, rounded up, at least 1 s. It never queues and never slows
  a prediction.
- A slot is taken before the body is read and given back when the worker thread ends, not when the
  request does: a request past its deadline (`explain_deadline_s`, 503) sets the cancel flag, the
  thread stops before its next row, and only then may another explanation start.
- At most `max_explain_rows` inputs per request (413 beyond), decoded like predictions.
- `Accept: image/png` answers the CNN's heatmap over the input as a PNG (one input per request).
- The explanation threads run at a lower CPU priority (nice EXPLAIN_NICENESS, Linux per-thread
  `setpriority`): an explanation is seconds of CPU, and on a 2-vCPU instance it would otherwise take
  a core the predictions (forward thread, event loop) need. The scheduler gives the predictions the
  CPU first; explanations use what is left.
- The explanation path loads after `/ping` answers 200 (`BackgroundExplainer`): on a thread of its
  own, once the served program is loaded and warmed up, so a new copy
  takes predictions that much sooner (the path was 5.1 s of the CNN's 16.1 s load and 1.3 s of the
  MLP's 13.9 s: benchmarks/results/coldstart-2026-12-07.md). An explanation request that arrives
  before it is loaded waits for it, holding its slot, within its deadline; still loading at the
  deadline, it is answered `503 explanation_loading` with `Retry-After` (and `retry_after_s` in the
  body, like the 429). A path that fails to load (a broken `explain.pt2`) is logged as an ERROR and
  each explanation request is answered `500 explanation_failed`; predictions go on.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from inference.errors import RequestError
from inference.explain import Explainer

log = logging.getLogger(__name__)
EXPLAIN_NICENESS = 10  # added to the process's nice value, per explanation thread


def lower_priority() -> None:
    """Raise this thread's nice value (Linux: PRIO_PROCESS with a thread id sets that thread only,
    https://man7.org/linux/man-pages/man2/setpriority.2.html, NOTES). Raising it needs no privilege."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + EXPLAIN_NICENESS))
    except (AttributeError, OSError) as error:  # not Linux, or a sandbox that forbids it
        log.warning("explanation threads keep their priority: %s", error)


class TooManyExplanations(RequestError):
    status = 429
    code = "too_many_explanations"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.headers = {"retry-after": str(retry_after_s)}
        # Through InvokeEndpoint a container's 4xx reaches the caller as ModelError with the body in
        # OriginalMessage and OriginalStatusCode, not its headers
        # (https://docs.aws.amazon.com/botocore/latest/reference/services/sagemaker-runtime/client/exceptions/ModelError.html):
        # the hint rides in the body too.
        self.body_extra = {"retry_after_s": retry_after_s}


# Retry-After for an explanation that found the path still loading at its deadline: by then the load
# has run for a whole deadline (15 s by default), about three times the CNN path's 5.1 s on a loaded
# 2-vCPU machine, so what is left of it is short.
LOADING_RETRY_AFTER_S = 2


class ExplanationLoading(RequestError):
    """The explanation path was still loading at the request's deadline (it loads after /ping)."""

    status = 503
    code = "explanation_loading"

    def __init__(self, message: str, retry_after_s: int = LOADING_RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.headers = {"retry-after": str(retry_after_s)}
        self.body_extra = {"retry_after_s": retry_after_s}  # as TooManyExplanations: InvokeEndpoint drops headers


class ExplanationFailed(RequestError):
    """The artifact declares an explanation path that did not load: a deployment fault, not a client's."""

    status = 500
    code = "explanation_failed"


class BackgroundExplainer:
    """The artifact's explanation path, loaded on a thread of its own.

    Not a daemon thread: the process's exit waits for the load (about 1.5 s after /ping; `finish()`
    is the server's explicit wait). A daemon thread still inside torch when the interpreter finalises
    is ended by `pthread_exit`, whose unwinding through torch's C++ frames calls `std::terminate`: a
    SIGTERM in the first seconds after /ping aborted the server (exit 134, "terminate called without an
    active exception") instead of exiting 0.

    At the process's own priority, unlike the explanations: the load is a one-time cost that the first
    explanation request waits for, and most of it (Captum's and matplotlib's imports, unpickling the
    program) holds the GIL, which a lower CPU priority would not give back to the predictions anyway.

    `start()` (on the event loop, once the served program is up) begins the load; `await get()` is
    the explainer once loaded, `ExplanationFailed` if its load failed. The loading thread wakes the
    waiters through the loop (`call_soon_threadsafe`), once."""

    def __init__(self, load: Callable[[], Explainer | None]) -> None:
        self._load = load
        self.explainer: Explainer | None = None
        self.error: str | None = None
        self.load_s: float | None = None
        self._done: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str:
        """`loading`, `ready` or `failed` (for /ping and the logs)."""
        if self.explainer is not None:
            return "ready"
        return "failed" if self.error is not None else "loading"

    @property
    def loaded(self) -> bool:
        return self._done is not None and self._done.is_set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        self._thread = threading.Thread(target=self._run, args=(loop, self._done), name="explain-load")
        self._thread.start()

    def finish(self) -> None:
        """Wait for the load to end (the server's shutdown: the load is never cut off; see above)."""
        if self._thread is not None and self._thread.is_alive():
            log.info("waiting for the explanation path's load to finish before exiting")
            self._thread.join()

    def _run(self, loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
        started = time.monotonic()
        try:
            explainer = self._load()
            if explainer is None:
                raise RuntimeError("the artifact has no explanation path")
        except Exception as error:  # logged with its traceback; each explanation request names it
            log.error("the explanation path failed to load; predictions go on", exc_info=error)
            self.error = f"{type(error).__name__}: {error}"
        else:
            self.explainer = explainer
            self.load_s = time.monotonic() - started
            # What the load made lives as long as the process: out of the collector's sight, like the
            # model's objects (inference.served.freeze_loaded_objects). No collection first: a full
            # one would pause the requests being served now.
            gc.freeze()
            log.info("explanation path loaded in %.2f s (after /ping, in the background)", self.load_s)
        try:
            loop.call_soon_threadsafe(done.set)
        except RuntimeError:  # the event loop has closed: the server is gone
            pass

    async def get(self) -> Explainer:
        """The explainer, waiting for its load (the caller's deadline bounds the wait)."""
        assert self._done is not None, "start() first"
        await self._done.wait()
        if self.explainer is None:
            raise ExplanationFailed(
                f"the explanation path failed to load ({self.error}; see the server log); predictions still work"
            )
        return self.explainer


class ExplanationGate:
    """The explanation slots, their threads and the recent durations that size Retry-After."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = slots
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="explain", initializer=lower_priority)
        self._durations: list[float] = []
        self.completed = 0

    def retry_after_s(self) -> int:
        with self._lock:
            recent = self._durations[-8:]
        return max(1, math.ceil(sum(recent) / len(recent))) if recent else 1

    def acquire(self) -> None:
        with self._lock:
            if self._free > 0:
                self._free -= 1
                return
        raise TooManyExplanations(
            f"all {self.slots} explanation slot(s) are busy; predictions are not affected, retry later",
            self.retry_after_s(),
        )

    def release(self) -> None:
        with self._lock:
            self._free += 1

    async def run(self, function: Any, *args: Any) -> Any:
        """`function(*args, cancel)` on an explanation thread; the slot (acquired by the caller) is
        released when the thread finishes, even if the awaiting request was cancelled first."""
        cancel = threading.Event()
        loop = asyncio.get_running_loop()

        def job() -> Any:
            started = time.monotonic()
            try:
                return function(*args, cancel)
            finally:
                with self._lock:
                    self._durations = [*self._durations[-15:], time.monotonic() - started]
                    self.completed += 1
                self.release()

        future = loop.run_in_executor(self._pool, job)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def wants_png(accept: str | None) -> bool:
    """Whether Accept names image/png before any JSON type (the first listed type wins)."""
    for item in (accept or "").split(","):
        kind = item.split(";", 1)[0].strip().lower()
        if kind == "image/png":
            return True
        if kind in {"application/json", "application/*", "*/*"}:
            return False
    return False


def overlay_png(image: np.ndarray, attribution: np.ndarray, scale: int = 0) -> bytes:
    """The input `(3, H, W)` in [0, 1] as grey, attribution over it: red where it raises the target
    class's score, blue where it lowers it, opacity by magnitude (normalised to the map's 99th
    percentile of |attribution|). Enlarged by `scale` (default: to at least 224 pixels), nearest
    neighbour so each input pixel stays one block."""
    from PIL import Image

    grey = image.mean(axis=0)
    magnitude = np.abs(attribution)
    top = float(np.percentile(magnitude, 99)) or 1.0
    strength = np.clip(magnitude / top, 0.0, 1.0)
    colour = np.where(attribution[..., None] >= 0, np.array([1.0, 0.1, 0.1]), np.array([0.1, 0.3, 1.0]))
    alpha = 0.8 * strength[..., None]
    rgb = (1 - alpha) * (0.25 + 0.5 * grey[..., None]) + alpha * colour
    picture = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    scale = scale or max(1, math.ceil(224 / max(1, min(grey.shape))))
    if scale > 1:
        picture = picture.resize((grey.shape[1] * scale, grey.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()
