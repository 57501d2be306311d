"""Training clips with their word edges cut: the onset and offset of the voiced stretch, shortened at random.

Some speakers' recordings are cut tight: the clip starts on the vowel and ends before the final
consonant ("six" without its /s/ onset and /ks/ coda). A model that only heard whole words has never
seen such a clip. Cutting a random 0..max_ms off either edge of the voiced stretch of training clips
(real and synthetic) shows it that case; labels are unchanged, the word is still the word.

The voiced stretch is found as the model finds it (`models.mlp.VoicedAlignment`): frames whose energy
is within `margin_db` of the loudest frame, from the first such frame to the last. Numpy only, so the
augmentation runs on the host beside the others (`mlp_training.augment_waveforms`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A cut never leaves less than this share of the voiced stretch: the word must stay recognisable.
MIN_KEPT_FRACTION = 0.5


@dataclass(frozen=True)
class EdgeCut:
    """How much to cut: up to `max_ms` off each edge, each edge cut with `probability`."""

    max_ms: float
    probability: float
    sample_rate: int
    frame_length: int
    frame_step: int
    margin_db: float

    @property
    def enabled(self) -> bool:
        return self.max_ms > 0 and self.probability > 0

    @property
    def max_samples(self) -> int:
        return int(round(self.max_ms * self.sample_rate / 1000.0))


def voiced_spans(waves: np.ndarray, frame_length: int, frame_step: int, margin_db: float) -> np.ndarray:
    """(N, 2) sample index [start, end) of each clip's voiced stretch: frames within `margin_db` of its loudest."""
    n, length = waves.shape
    if length < frame_length:
        return np.tile(np.asarray([0, length]), (n, 1))
    frames = np.lib.stride_tricks.sliding_window_view(waves, frame_length, axis=1)[:, ::frame_step]
    power = np.einsum("nfl,nfl->nf", frames, frames) / frame_length  # a view: no frame copies
    energy_db = 10.0 * np.log10(power.astype(np.float64) + 1e-12)
    voiced = energy_db >= energy_db.max(axis=1, keepdims=True) - margin_db
    first = voiced.argmax(axis=1)
    last = voiced.shape[1] - 1 - voiced[:, ::-1].argmax(axis=1)
    return np.stack([first * frame_step, np.minimum(last * frame_step + frame_length, length)], axis=1)


def cut_word_edges(waves: np.ndarray, rng: np.random.Generator, cut: EdgeCut) -> np.ndarray:
    """A copy of `waves` (N, samples) where, with `cut.probability` per edge, the voiced stretch loses a
    uniform 0..`cut.max_ms` at its onset and/or offset; everything outside the kept stretch is silence
    (as in a recording cut tight, then padded to the clip length). Clips not drawn are returned as they are.
    """
    out = np.array(waves, copy=True)
    if not cut.enabled or len(out) == 0:
        return out
    spans = voiced_spans(out, cut.frame_length, cut.frame_step, cut.margin_db)
    n = len(out)
    onset = rng.integers(0, cut.max_samples + 1, size=n) * (rng.random(n) < cut.probability)
    offset = rng.integers(0, cut.max_samples + 1, size=n) * (rng.random(n) < cut.probability)
    for i, (start, end) in enumerate(spans):
        if onset[i] == 0 and offset[i] == 0:
            continue
        room = int((end - start) * (1.0 - MIN_KEPT_FRACTION))  # at most half the stretch goes
        total = int(onset[i] + offset[i])
        scale = min(1.0, room / total) if total else 0.0
        new_start = start + int(onset[i] * scale)
        new_end = end - int(offset[i] * scale)
        out[i, :new_start] = 0.0
        out[i, new_end:] = 0.0
    return out
