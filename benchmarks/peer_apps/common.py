"""The stages every peer app shares: load the artifact, decode one body, run a batch, encode one answer.

Imports the inference package only (its framework-free modules, and the framework the manifest names),
so it runs in any peer's venv.
"""

from __future__ import annotations

import os

# The inference server's loader sets this before torch loads (inference.models); set here too, before a
# peer imports anything that might load torch, so every server runs the model with the same OpenMP setting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path
from typing import Any

import numpy as np
from inference.artifact import load_manifest
from inference.decoding import decode
from inference.models import load_predictor
from inference.stages import encode

CONTENT_TYPES = {"image_classification": "image/png", "audio_classification": "audio/wav"}
MODEL_DIR_ENV = "SERVE_BENCH_MODEL_DIR"
THREADS_ENV = "SERVE_BENCH_THREADS"


def default_threads() -> int:
    return int(os.environ.get(THREADS_ENV) or len(os.sched_getaffinity(0)))


class ArtifactModel:
    """The benchmark's artifact behind the inference package's own loader, decoder and encoder."""

    def __init__(self, model_dir: Path | str | None = None, threads: int | None = None) -> None:
        self.manifest = load_manifest(Path(model_dir or os.environ[MODEL_DIR_ENV]))
        self.predictor = load_predictor(self.manifest, threads or default_threads())
        self.content_type = CONTENT_TYPES[self.manifest.task]

    def decode(self, body: bytes) -> tuple[str, np.ndarray]:
        """One PNG/WAV body -> (entry point, float32 batch of one row)."""
        (part,) = decode(body, self.content_type, self.manifest)
        return part.entry, part.array

    def predict(self, entry: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """One forward pass over the rows of `arrays`; one probability row `(1, classes)` per array."""
        probabilities = self.predictor(entry, np.concatenate(arrays) if len(arrays) > 1 else arrays[0])
        return list(probabilities[:, None, :])

    def answer(self, probabilities: np.ndarray) -> dict[str, Any]:
        """The inference server's JSON document for one request."""
        return {"model": self.manifest.name, "predictions": encode(probabilities, self.manifest, 5)}
