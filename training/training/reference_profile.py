"""The reference profile a drift monitor compares served traffic with (docs/contracts.md, docs/monitoring.md).

Written by every training job into the model dir from its held-out split, after the artifact:
- an embedding program beside the served one, so the monitor turns captured inputs into the same
  embeddings with the artifact alone: `embed.pt2` (CNN: the pooled penultimate layer) or
  `embed_model/` (MLP: a SavedModel whose endpoints give the last hidden layer and the MFCC features);
- `reference_profile.npz`: the held-out split's embeddings (per embedding space), softmax outputs and
  per-input statistics, computed with the exported programs themselves;
- `reference_profile.json`: what the arrays are, the predicted-class mix, the confidence histogram and
  summaries of the input statistics.

The input statistics are computed here and again by the monitor on captured inputs: both sides
implement `input_statistics` alike, and `tests/integration/contracts/test_reference_profile.py`
pins them together (the monitor never imports training, the training image never holds the monitor).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PROFILE_JSON = "reference_profile.json"
PROFILE_ARRAYS = "reference_profile.npz"
CNN_EMBED_FILE = "embed.pt2"
MLP_EMBED_DIR = "embed_model"
SCHEMA_VERSION = 1
MAX_ROWS = 5000  # held-out rows kept: enough for any window the monitor draws against, a few MB
CONFIDENCE_BINS = 10
# Audio statistics: frames of 256 samples (32 ms at 8 kHz); a frame is active within 40 dB of the loudest.
FRAME = 256
ACTIVE_DB = 40.0
EPS = 1e-10


def image_statistics(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """Per image (N, 3, H, W) in [0, 1]: mean luma (brightness) and its standard deviation (contrast)."""
    x = np.asarray(pixels, dtype=np.float32)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    flat = luma.reshape(len(x), -1)
    return {"brightness": flat.mean(axis=1), "contrast": flat.std(axis=1)}


def audio_statistics(waveforms: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """Per clip (N, samples) in [-1, 1]: RMS, active duration (s) and an estimated SNR (dB).

    Frame energies over FRAME-sample frames; active frames are within ACTIVE_DB of the loudest; the
    SNR is the 90th over the 10th percentile of the frame energies (speech over the floor between words)."""
    x = np.asarray(waveforms, dtype=np.float32)
    frames = x.shape[1] // FRAME
    energy = (x[:, : frames * FRAME].reshape(len(x), frames, FRAME).astype(np.float64) ** 2).mean(axis=2) + EPS
    loudest = energy.max(axis=1, keepdims=True)
    active = (10 * np.log10(energy / loudest) >= -ACTIVE_DB).sum(axis=1)
    high, low = np.percentile(energy, 90, axis=1), np.percentile(energy, 10, axis=1)
    return {
        "rms": np.sqrt((x.astype(np.float64) ** 2).mean(axis=1)),
        "active_duration_s": active * FRAME / float(sample_rate),
        "snr_db": 10 * np.log10(high / low),
    }


def mfcc_summary(features: np.ndarray) -> np.ndarray:
    """Per clip (N, frames, coefficients): the mean and standard deviation of each coefficient over time."""
    f = np.asarray(features, dtype=np.float32)
    return np.concatenate([f.mean(axis=1), f.std(axis=1)], axis=1)


def _summary(values: np.ndarray) -> dict[str, float]:
    q = np.percentile(values, [5, 50, 95])
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p05": float(q[0]),
        "p50": float(q[1]),
        "p95": float(q[2]),
    }


# --- the embedding programs -------------------------------------------------------------------------


def export_cnn_embedding(classifier: Any, model_dir: Path) -> dict[str, Any]:
    """`embed.pt2`: (N, 3, H, W) in [0, 1] -> the pooled output of the last stage (N, 8 * width)."""
    import torch
    from torch import nn

    class Embedding(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner.embed(x)

    weights = copy.deepcopy(classifier).to("cpu", memory_format=torch.contiguous_format)
    model = Embedding(weights).eval()
    size = classifier.config.image_size
    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        program = torch.export.export(model, (torch.rand(2, 3, size, size),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(model_dir / CNN_EMBED_FILE))
    return {"model_file": CNN_EMBED_FILE, "framework": "pytorch", "spaces": {"penultimate": "embed.pt2 output"}}


def cnn_embeddings(model_dir: Path, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    import torch

    module = torch.export.load(str(model_dir / CNN_EMBED_FILE)).module()
    out = []
    with torch.inference_mode():
        for start in range(0, len(pixels), batch_size):
            x = torch.from_numpy(np.asarray(pixels[start : start + batch_size], dtype=np.float32))
            out.append(module(x).numpy())
    return np.concatenate(out).astype(np.float32)


def export_mlp_embedding(trainer: Any, model_dir: Path) -> dict[str, Any]:
    """`embed_model/`: endpoints `hidden_features` (MFCC features -> last hidden layer) and, for a
    waveform model, `hidden` (waveform -> last hidden layer) and `mfcc` (waveform -> MFCC features)."""
    import keras
    import tensorflow as tf

    from training.models.mlp import MFCC

    classifier = trainer.classifier
    hidden = keras.Model(classifier.inputs, classifier.get_layer("logits").input, name="hidden")
    feature_shape = tuple(trainer.config.feature_shape)
    archive = keras.export.ExportArchive()
    archive.track(hidden)
    archive.add_endpoint(
        name="hidden_features",
        fn=lambda x: hidden(x, training=False),
        input_signature=[tf.TensorSpec((None, *feature_shape), tf.float32, name="features")],
    )
    signatures = {"hidden_from_features": "hidden_features"}
    if trainer.waveform_input:
        featurizer = next(layer for layer in trainer.model.layers if isinstance(layer, MFCC))  # the trained one
        num_samples = trainer.mfcc.num_samples
        archive.track(featurizer)
        archive.add_endpoint(
            name="hidden",
            fn=lambda x: hidden(featurizer(x), training=False),
            input_signature=[tf.TensorSpec((None, num_samples), tf.float32, name="waveform")],
        )
        archive.add_endpoint(
            name="mfcc",
            fn=lambda x: featurizer(x),
            input_signature=[tf.TensorSpec((None, num_samples), tf.float32, name="waveform")],
        )
        signatures.update({"hidden_from_waveform": "hidden", "mfcc_from_waveform": "mfcc"})
    archive.write_out(str(model_dir / MLP_EMBED_DIR), verbose=False)
    return {
        "model_file": MLP_EMBED_DIR,
        "framework": "tensorflow",
        "signatures": signatures,
        "spaces": {"hidden": "last hidden layer", "mfcc_summary": "per-coefficient mean and std of the MFCCs"},
    }


def mlp_embeddings(model_dir: Path, inputs: np.ndarray, batch_size: int = 512) -> dict[str, np.ndarray]:
    """Waveforms (N, samples) or MFCC features (N, frames, coefficients) -> both embedding spaces."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model_dir / MLP_EMBED_DIR))
    waveform = inputs.ndim == 2
    hidden, mfcc = [], []
    for start in range(0, len(inputs), batch_size):
        x = tf.constant(np.asarray(inputs[start : start + batch_size], dtype=np.float32))
        hidden.append((loaded.hidden(x) if waveform else loaded.hidden_features(x)).numpy())
        mfcc.append(mfcc_summary(loaded.mfcc(x).numpy() if waveform else x.numpy()))
    return {"hidden": np.concatenate(hidden).astype(np.float32), "mfcc_summary": np.concatenate(mfcc)}


# --- the profile ------------------------------------------------------------------------------------


def build_profile(
    model: str,
    model_dir: Path,
    trainer: Any,
    inputs: np.ndarray,
    probabilities: np.ndarray,
    class_names: list[str],
    split: str,
    seed: int = 0,
) -> dict[str, Any]:
    """Export the embedding program, compute the held-out split's profile, write both files; returns the JSON."""
    rows = np.arange(len(inputs))
    if len(rows) > MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_ROWS, replace=False))
    inputs, probabilities = inputs[rows], np.asarray(probabilities, dtype=np.float32)[rows]
    arrays: dict[str, np.ndarray] = {"probabilities": probabilities}
    if model == "cnn":
        embedding = export_cnn_embedding(trainer.classifier, model_dir)
        pixels = inputs.astype(np.float32) / 255.0
        arrays["embedding/penultimate"] = cnn_embeddings(model_dir, pixels)
        statistics = image_statistics(pixels)
        statistics_kind = "image"
    else:
        embedding = export_mlp_embedding(trainer, model_dir)
        for space, values in mlp_embeddings(model_dir, inputs).items():
            arrays[f"embedding/{space}"] = values
        if inputs.ndim == 2:
            statistics = audio_statistics(inputs, trainer.mfcc.sample_rate)
            statistics_kind = "audio"
        else:
            statistics, statistics_kind = {}, "features"
    for name, values in statistics.items():
        arrays[f"statistic/{name}"] = np.asarray(values, dtype=np.float64)
    predicted = probabilities.argmax(axis=1)
    counts = np.bincount(predicted, minlength=len(class_names))
    confidence = probabilities.max(axis=1)
    histogram, edges = np.histogram(confidence, bins=CONFIDENCE_BINS, range=(0.0, 1.0))
    profile = {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "split": split,
        "num_samples": int(len(rows)),
        "class_names": list(class_names),
        "arrays": PROFILE_ARRAYS,
        "embedding": embedding,
        "predicted_class_mix": {name: int(counts[i]) for i, name in enumerate(class_names)},
        "confidence_histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in histogram]},
        "input_statistics": {"kind": statistics_kind, **{k: _summary(v) for k, v in statistics.items()}},
    }
    np.savez_compressed(model_dir / PROFILE_ARRAYS, allow_pickle=False, **arrays)
    (model_dir / PROFILE_JSON).write_text(json.dumps(profile, indent=2) + "\n")
    return profile


def write_reference_profile(
    model: str,
    model_dir: Path,
    trainer: Any,
    inputs: np.ndarray,
    probabilities: np.ndarray,
    class_names: list[str],
    split: str,
) -> dict[str, Any]:
    """What `evaluation.json` records under `reference_profile`. A failure here does not fail the job (the
    artifact serves without a profile; the monitor then answers `no_reference`): it is logged and recorded."""
    try:
        profile = build_profile(model, model_dir, trainer, inputs, probabilities, class_names, split)
    except (OSError, MemoryError):
        raise
    except Exception as error:  # any failure: a monitoring aid, not the product
        log.warning("reference profile failed: %s", error, exc_info=True)
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "file": PROFILE_JSON,
        "num_samples": profile["num_samples"],
        "spaces": sorted(profile["embedding"]["spaces"]),
    }
