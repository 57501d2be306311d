"""Small generated data sets in the layouts users bring, written as real files.

Classes differ in ways a small model learns in a few epochs (image colour and stripes, tone
pitch), so a short training run must beat chance by a wide margin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile

IMAGE_CLASSES = ("circle", "square", "stripes")
TONE_HZ = {"low": 300.0, "mid": 900.0, "high": 2000.0}


def image(label: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    pixels = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
    channel = label % 3
    if label % 3 == 0:
        yy, xx = np.mgrid[:size, :size]
        mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    elif label % 3 == 1:
        mask = np.zeros((size, size), bool)
        mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    else:
        mask = (np.arange(size) // 3 % 2 == 0)[:, None].repeat(size, 1)
    pixels[mask, channel] = rng.integers(180, 255)
    return pixels


def sample_pixels(count: int = 6) -> np.ndarray:
    """`count` images of `image` (classes 0, 1, 2 in turn), NCHW uint8."""
    return np.stack([image(i % 3, np.random.default_rng(i)) for i in range(count)]).transpose(0, 3, 1, 2)


def write_image_folder(
    root: Path,
    per_class: int = 30,
    seed: int = 0,
    size: int = 32,
    classes: tuple[str, ...] = IMAGE_CLASSES,
    suffix: str = ".png",
) -> Path:
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(image(label, rng, size)).save(folder / f"{name}_{i}{suffix}")
    return root


def tone(hz: float, rng: np.random.Generator, rate: int = 8000, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * rng.uniform(0.95, 1.05) * t) * np.hanning(len(t))
    return (wave + rng.normal(0, 0.01, len(t))).astype(np.float32)


def sample_tones() -> np.ndarray:
    """Three one-second `tone`s (300, 900 and 2000 Hz) at 8 kHz, float32, one a row."""
    return np.stack([tone(hz, np.random.default_rng(1), seconds=1.0) for hz in (300.0, 900.0, 2000.0)]).astype(
        np.float32
    )


def write_wav(path: Path, samples: np.ndarray, rate: int, dtype: str = "int16", channels: int = 1) -> Path:
    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    if dtype == "int16":
        data = (np.clip(data, -1, 1) * 32767).astype(np.int16)
    elif dtype == "uint8":
        data = (np.clip(data, -1, 1) * 127 + 128).astype(np.uint8)
    else:
        data = data.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, data)
    return path


def write_fsdd_folder(
    root: Path, per_speaker: int = 8, speakers: tuple[str, ...] = ("ann", "bob", "cat"), seed: int = 0, rate: int = 8000
) -> Path:
    """Free-Spoken-Digit naming: <label>_<speaker>_<index>.wav."""
    rng = np.random.default_rng(seed)
    for label, hz in TONE_HZ.items():
        for speaker_index, speaker in enumerate(speakers):
            for i in range(per_speaker):
                samples = tone(hz * (1 + 0.03 * speaker_index), rng, rate)
                write_wav(root / f"{label}_{speaker}_{i}.wav", samples, rate)
    return root


def write_audio_class_folders(root: Path, per_class: int = 20, seed: int = 0, rate: int = 8000) -> Path:
    rng = np.random.default_rng(seed)
    for label, hz in TONE_HZ.items():
        for i in range(per_class):
            write_wav(root / label / f"clip_{i}.wav", tone(hz, rng, rate), rate)
    return root
