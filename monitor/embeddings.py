"""Captured requests -> the model inputs the server decoded, their embeddings and input statistics.

The monitor recomputes embeddings from the captured inputs with the artifact's own embedding program
(`embed.pt2` or `embed_model/`, written beside the served model by the training job) rather than
having the server return or log them: the serving path and its response stay as they are (no extra
forward output, no bigger answers or captures), SageMaker's own data capture (which records only the
request and the response) suffices, and the work runs in a batch job off the request path. Decoding is
the server's own (`inference.decoding.decode`), so the monitor sees exactly the inputs the model saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from inference.artifact import Manifest
from inference.decoding import FEATURES, IMAGE, WAVEFORM, decode
from inference.errors import RequestError

from monitor.captures import Capture
from monitor.statistics import audio_statistics, image_statistics, mfcc_summary

CNN_EMBED_FILE = "embed.pt2"
MLP_EMBED_DIR = "embed_model"


@dataclass
class Window:
    """The decoded rows of a window: one per model input, in capture order."""

    ids: list[str] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    inputs: dict[str, list[np.ndarray]] = field(default_factory=dict)  # entry -> batches
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0

    @property
    def rows(self) -> int:
        return len(self.ids)


def _image_size(body: bytes) -> tuple[int, int] | None:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(body)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def decode_window(captures: list[Capture], manifest: Manifest) -> Window:
    window = Window()
    for capture in captures:
        try:
            parts = decode(capture.body, capture.content_type, manifest)
        except RequestError as error:  # the server answered this request with an error too
            window.skipped += 1
            window.problems.append(f"{capture.source}: undecodable input: {error}")
            continue
        predictions = capture.output["predictions"]
        rows = sum(len(part.array) for part in parts)
        if rows != len(predictions):
            window.skipped += 1
            window.problems.append(f"{capture.source}: {rows} inputs but {len(predictions)} predictions")
            continue
        try:
            probabilities = np.asarray([p["probabilities"] for p in predictions], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            window.skipped += 1
            window.problems.append(f"{capture.source}: a prediction without its probabilities")
            continue
        if probabilities.shape[1:] != (len(manifest.class_names),):
            window.skipped += 1
            window.problems.append(f"{capture.source}: probabilities for another class list")
            continue
        if manifest.is_image and capture.content_type.split(";")[0].strip() in ("image/png", "image/jpeg"):
            size = _image_size(capture.body)
            if size is not None:
                window.image_sizes.append(size)
        window.ids.extend([capture.inference_id] if rows == 1 else [f"{capture.inference_id}:{i}" for i in range(rows)])
        window.probabilities.append(probabilities)
        for part in parts:
            window.inputs.setdefault(part.entry, []).append(part.array)
    return window


def _cnn_embed(model_dir: Path, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    import torch

    module = torch.export.load(str(model_dir / CNN_EMBED_FILE)).module()
    out = []
    with torch.inference_mode():
        for start in range(0, len(pixels), batch_size):
            out.append(module(torch.from_numpy(np.ascontiguousarray(pixels[start : start + batch_size]))).numpy())
    return np.concatenate(out).astype(np.float32)


def _mlp_embed(model_dir: Path, inputs: np.ndarray, waveform: bool, batch_size: int = 512) -> dict[str, np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model_dir / MLP_EMBED_DIR))
    hidden, mfcc = [], []
    for start in range(0, len(inputs), batch_size):
        x = tf.constant(np.asarray(inputs[start : start + batch_size], dtype=np.float32))
        hidden.append((loaded.hidden(x) if waveform else loaded.hidden_features(x)).numpy())
        mfcc.append(mfcc_summary(loaded.mfcc(x).numpy() if waveform else x.numpy()))
    return {"hidden": np.concatenate(hidden).astype(np.float32), "mfcc_summary": np.concatenate(mfcc)}


def embed(model_dir: Path, model: str, entry: str, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Embeddings of one entry point's inputs, per space (the reference profile's spaces)."""
    if entry == IMAGE:
        return {"penultimate": _cnn_embed(model_dir, inputs)}
    if entry in (WAVEFORM, FEATURES):
        return _mlp_embed(model_dir, inputs, waveform=entry == WAVEFORM)
    raise ValueError(f"no embedding for entry {entry!r} of model {model!r}")


def statistics(entry: str, inputs: np.ndarray, sample_rate: int | None) -> dict[str, np.ndarray]:
    if entry == IMAGE:
        return image_statistics(inputs)
    if entry == WAVEFORM and sample_rate:
        return audio_statistics(inputs, sample_rate)
    return {}
