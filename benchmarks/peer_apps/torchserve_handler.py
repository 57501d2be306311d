"""TorchServe handler for the benchmark's artifact (a class-level entry point: `initialize`, `handle`).

TorchServe's frontend (Java) forms the batches: the model's `batchSize` and `maxBatchDelay`, set in
the config written by `benchmarks.peer_apps.torchserve_config`, as TorchServe's "Batch Inference with
TorchServe" sets them up (https://pytorch.org/serve/batch_inference_with_ts.html). `handle` receives
the batch as a list of requests (each `{"body": bytearray}`) and answers one JSON document each.
The artifact's folder and thread count come through the environment the worker inherits.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.peer_apps.common import ArtifactModel


class ArtifactHandler:
    def __init__(self) -> None:
        self.model: ArtifactModel | None = None

    def initialize(self, context: Any) -> None:
        self.model = ArtifactModel()

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[str]:
        assert self.model is not None
        decoded = [self.model.decode(bytes(request.get("body") or request.get("data"))) for request in data]
        rows = self.model.predict(decoded[0][0], [array for _, array in decoded])
        for index in range(len(data)):
            context.set_response_content_type(index, "application/json")
        return [json.dumps(self.model.answer(row)) for row in rows]
