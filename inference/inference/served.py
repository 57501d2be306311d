"""What the application serves, and its life: the manifest, the predictor and its micro-batcher, the
decode threads, the explanation path and its slots, the capture writer.

Start (the application's lifespan, before uvicorn accepts a connection): the manifest, the framework,
the served program and its warm-up passes, the batcher's thread; then the objects alive are frozen out
of the garbage collector's sight, and the explanation path starts loading in the background
(inference.explain_serving.BackgroundExplainer). `/ping` answers 200 from then on: predictions work.
Stop (after uvicorn's drain): the batcher's thread, the explanation threads, the capture writer.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import numpy as np

from inference.artifact import Manifest, load_manifest
from inference.batching import MicroBatcher
from inference.capture import CaptureWriter, start_capture
from inference.explain import has_explanation, load_explainer
from inference.explain_serving import BackgroundExplainer, ExplanationGate
from inference.forward_process import ForwardProcess
from inference.models import load_predictor
from inference.settings import ServeSettings, cpu_count

log = logging.getLogger(__name__)

SHUTDOWN_JOIN_S = 2.0


def freeze_loaded_objects() -> int:
    """Move every object alive now (the framework, the model, the server's modules: ~380,000 once
    TensorFlow or torch is loaded) out of the garbage collector's sight; returns how many.

    A full collection walks all of them: ~185 ms on the 2-vCPU instance under load, on the event loop
    thread, once every few thousand requests under load, which is the p99 at concurrency 64.
    They live as long as the process, so the collector has nothing to find there; objects made later
    are collected as usual."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class ServedModel:
    """The model behind the routes. Its parts are None until `load()` has run."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.manifest: Manifest | None = None
        self.batcher: MicroBatcher | None = None
        self.decoders: anyio.CapacityLimiter | None = None
        self.explanations: BackgroundExplainer | None = None  # None: the artifact has no explanation path
        self.gate = ExplanationGate(settings.max_concurrent_explanations)
        self.capture: CaptureWriter | None = None
        self.forward_process: ForwardProcess | None = None  # with model_process=1

    def load(self) -> None:
        """Load the served program and start its batcher, and log how long it took: the model-load
        part of a cold start (benchmarks/coldstart_bench.py reads the line). The explanation path is
        only checked here (`has_explanation`: a malformed block stops the server); `start_explanations`
        loads it."""
        started = time.perf_counter()
        manifest = load_manifest(self.settings.model_dir)
        if not manifest.is_image:
            import inference.audio  # noqa: F401 - scipy's WAV decoding, now rather than on the first request
        if self.settings.model_process:
            self.forward_process = ForwardProcess(self.settings.model_dir, self.settings.threads)
            run: Callable[[str, np.ndarray], np.ndarray] = self.forward_process
        else:
            run = load_predictor(manifest, self.settings.threads)
        loaded = time.perf_counter()
        self.batcher = MicroBatcher(
            run,
            self.settings.max_batch_size,
            self.settings.max_batch_delay_ms / 1000,
            self.settings.adaptive_batch_wait_ms / 1000,
        )
        self.batcher.start()
        if has_explanation(manifest):
            self.explanations = BackgroundExplainer(lambda: load_explainer(manifest))
        self.capture = start_capture(self.settings.model_dir)  # None unless INFERENCE_CAPTURE_DIR
        self.manifest = manifest
        done = time.perf_counter()
        log.info(
            "model loaded in %.2f s (framework import, model and warm-up %.2f s; explanation path %s)",
            done - started,
            loaded - started,
            "loads in the background" if self.explanations is not None else "none",
        )

    def start_explanations(self) -> None:
        """Begin loading the explanation path on its own thread (on the event loop: it wakes waiters there)."""
        if self.explanations is not None:
            self.explanations.start()

    @property
    def healthy(self) -> bool:
        """False once the model process (model_process=1) has died: no batch can run any more."""
        return self.forward_process is None or self.forward_process.alive

    def status(self) -> dict[str, Any]:
        """`/ping`'s document: this worker's forward passes and rows, and the explanation path's state."""
        assert self.manifest is not None and self.batcher is not None
        return {
            "status": "ok",
            "model": self.manifest.name,
            "forward_passes": self.batcher.batches,
            "rows": self.batcher.rows,
            "explanations": self.explanations.state if self.explanations is not None else "none",
        }

    def close(self) -> None:
        # By now every request has ended (each has a deadline shorter than the drain) and the model
        # thread has at most one forward pass of max_batch_size rows left; it is a daemon thread, so a
        # short wait keeps the exit inside SageMaker's 30 s whatever it is doing. The explanation path's
        # load, if a SIGTERM came in the seconds after /ping, is waited for (BackgroundExplainer).
        if self.batcher is not None:
            self.batcher.stop(timeout=SHUTDOWN_JOIN_S)
        if self.explanations is not None:
            self.explanations.finish()
        if self.forward_process is not None:
            self.forward_process.close()
        self.gate.close()
        if self.capture is not None:
            self.capture.close()

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """Starlette's lifespan: load before the first connection is accepted, close after the drain."""
        self.load()
        freeze_loaded_objects()
        # Big bodies decode in threads; a few at a time bounds the memory decoded images take.
        self.decoders = anyio.CapacityLimiter(max(2, cpu_count()))
        self.start_explanations()
        yield
        self.close()
