"""Per-input statistics of captured inputs, computed as the training job computes them for the reference.

The training side's copy is `training/training/reference_profile.py` (the walls keep the two packages
apart); `tests/integration/contracts/test_reference_profile.py` pins them to the same numbers.
"""

from __future__ import annotations

import numpy as np

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
    """Per clip (N, samples) in [-1, 1]: RMS, active duration (s) and an estimated SNR (dB)."""
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
