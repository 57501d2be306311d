"""The established server of the comparison: LitServe serving the same exported artifact.

    .venv-litserve/bin/python -m benchmarks.litserve_app --model-dir DIR --port P \
        [--max-batch-size 32] [--batch-timeout-ms 0] [--threads N]

Configured like `python -m inference serve` with its defaults: one API server process, one inference
worker (`workers_per_device=1`) whose framework uses all cores (`--threads`, default CPUs), batching on
with the same maximum batch (32 rows); its batch wait is LitServe's default, 0 ms (take what has
queued up: LitServe's `batch_timeout` is a fixed wait that a lone request would pay in full; the
inference server's adaptive wait has no LitServe equivalent). The stages
reuse the inference package's own functions (`load_predictor` for the framework calls and threads,
`decode` for PNG/WAV bytes, `encode` for the response), so the two servers differ in their serving
machinery only. LitServe accepts JSON or form bodies, so clients send the same PNG/WAV bytes as a
multipart upload in the field `file` (its documented way of taking files); the response is the same
JSON document as the inference server's.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

# The inference server's loader sets this before torch loads (inference.models); set here too, before
# anything LitServe imports might load torch, so both servers run the model with the same OpenMP setting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import litserve as ls
import numpy as np
from inference.artifact import load_manifest
from inference.decoding import decode
from inference.models import load_predictor
from inference.stages import encode

CONTENT_TYPES = {"image_classification": "image/png", "audio_classification": "audio/wav"}


class ArtifactAPI(ls.LitAPI):
    def __init__(self, model_dir: Path, threads: int, **options: Any) -> None:
        super().__init__(**options)
        self.model_dir = model_dir
        self.threads = threads

    def setup(self, device: str) -> None:
        self.manifest = load_manifest(self.model_dir)
        self.predictor = load_predictor(self.manifest, self.threads)
        self.content_type = CONTENT_TYPES[self.manifest.task]

    def decode_request(self, request):  # unannotated: LitServe passes the form
        (part,) = decode(request["file"].file.read(), self.content_type, self.manifest)
        return part.entry, part.array

    def predict(self, inputs: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
        entry = inputs[0][0]
        probabilities = self.predictor(entry, np.concatenate([array for _, array in inputs]))
        return list(probabilities[:, None, :])

    def encode_response(self, probabilities: np.ndarray) -> dict[str, Any]:
        return {"model": self.manifest.name, "predictions": encode(probabilities, self.manifest, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-ms", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    api = ArtifactAPI(
        args.model_dir,
        args.threads,
        max_batch_size=args.max_batch_size,
        batch_timeout=args.batch_timeout_ms / 1000,
        api_path="/predict",
    )
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=60)
    server.run(host="127.0.0.1", port=args.port, num_api_servers=1, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
