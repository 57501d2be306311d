"""BentoML serving the benchmark's artifact: one Service, one worker, adaptive batching on.

    SERVE_BENCH_MODEL_DIR=DIR SERVE_BENCH_THREADS=N .venv-peers-bentoml/bin/bentoml serve \
        benchmarks.peer_apps.bentoml_service:Classifier --host 127.0.0.1 --port P

Batching as BentoML's "Adaptive batching" guide sets it up
(https://docs.bentoml.com/en/latest/guides/adaptive-batching.html): `@bentoml.api(batchable=True,
max_batch_size=..., max_latency_ms=...)` on a method that takes a list and returns a list; BentoML's
dispatcher in the Service gathers concurrent requests into one call, adapting its wait to the
traffic. Each request is a multipart upload of one file in the field `files` (a list of one), the
same PNG/WAV bytes as the inference server's body; `GET /readyz` answers 200 once the Service is up.
"""

from __future__ import annotations

from pathlib import Path

import bentoml

from benchmarks.peer_apps.common import ArtifactModel

MAX_BATCH_SIZE = 32
# An upper bound, not a wait: the dispatcher refuses (503) what it cannot answer in time.
MAX_LATENCY_MS = 10_000


@bentoml.service(workers=1, traffic={"timeout": 60})
class Classifier:
    def __init__(self) -> None:
        self.model = ArtifactModel()

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, files: list[Path]) -> list[dict]:
        decoded = [self.model.decode(Path(file).read_bytes()) for file in files]
        rows = self.model.predict(decoded[0][0], [array for _, array in decoded])
        return [self.model.answer(row) for row in rows]
