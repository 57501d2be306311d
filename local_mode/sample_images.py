"""Sample images: scikit-learn's handwritten digits as PNG class folders (ImageFolder layout).

`sklearn.datasets.load_digits` ships with scikit-learn (no download): 1,797 8x8 grayscale scans of
handwritten digits by 43 writers (UCI "Optical Recognition of Handwritten Digits"). Each is upscaled
to `image_size` (bicubic) and written as an RGB PNG, dark ink on white, under `<split>/<digit>/`.
A stratified, seeded fraction is written to `held_out/` and never reaches the train channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from local_mode.samples import Sample


def _to_rgb(digit: np.ndarray, size: int) -> Image.Image:
    ink = (digit.reshape(8, 8) / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(255 - ink, mode="L").resize((size, size), Image.Resampling.BICUBIC)
    return image.convert("RGB")


def _held_out_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        mask[members[: max(1, round(fraction * len(members)))]] = True
    return mask


def write_digit_images(
    root: Path, *, per_class: int = 0, size: int = 32, held_out_fraction: float = 0.2, seed: int = 0
) -> tuple[Path, Path, list[Sample]]:
    """Write `root/train/<d>/*.png` and `root/held_out/<d>/*.png`; returns both folders and the held-out samples."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target
    if per_class:
        keep = np.concatenate([np.flatnonzero(labels == d)[:per_class] for d in np.unique(labels)])
        images, labels = images[np.sort(keep)], labels[np.sort(keep)]
    held_out = _held_out_mask(labels, held_out_fraction, seed)
    held_out_samples: list[Sample] = []
    for index, (digit, label) in enumerate(zip(images, labels, strict=True)):
        split = "held_out" if held_out[index] else "train"
        path = root / split / str(label) / f"digit_{index:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        _to_rgb(digit, size).save(path)
        if held_out[index]:
            held_out_samples.append(Sample(path, str(label)))
    return root / "train", root / "held_out", held_out_samples
