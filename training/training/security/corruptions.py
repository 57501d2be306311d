"""Common corruptions of images and noise on waveforms, at a stated severity (numpy, scipy, Pillow).

Images: eight of the fifteen CIFAR-10-C corruptions (Hendrycks and Dietterich, "Benchmarking Neural
Network Robustness to Common Corruptions and Perturbations", ICLR 2019), with their published
per-severity constants for 32x32 images (the table in the authors' `make_cifar_c.py`,
github.com/hendrycks/robustness). The ones left out need OpenCV, ImageMagick or frost photographs,
which the training images do not carry. Each takes and returns float32 NCHW in [0, 1] and is seeded.

Waveforms: white Gaussian noise scaled per clip to a stated SNR against the clip's own power.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from PIL import Image
from scipy.ndimage import gaussian_filter

SEVERITY_CONSTANTS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
}
Corruption = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _hwc(image: np.ndarray) -> np.ndarray:
    return np.transpose(image, (1, 2, 0))


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.uint8(np.round(np.clip(_hwc(image), 0, 1) * 255)))


def _from_pil(image: Image.Image) -> np.ndarray:
    return np.transpose(np.asarray(image, dtype=np.float32) / 255.0, (2, 0, 1))


def _gaussian_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(size=x.shape, scale=c)


def _shot_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return rng.poisson(x * c) / c


def _impulse_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper on a fraction `c` of the values, half each (scikit-image's `s&p` mode)."""
    out = x.copy()
    hit = rng.random(x.shape) < c
    out[hit] = (rng.random(int(hit.sum())) < 0.5).astype(x.dtype)
    return out


def _speckle_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + x * rng.normal(size=x.shape, scale=c)


def _gaussian_blur(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return gaussian_filter(x, sigma=(0, c, c), mode="nearest")


def _contrast(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * c + means


def _brightness(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    hsv = rgb_to_hsv(np.clip(_hwc(x), 0, 1))
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return np.transpose(hsv_to_rgb(hsv), (2, 0, 1))


def _jpeg_compression(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    _pil(x).save(buffer, "JPEG", quality=int(c))
    buffer.seek(0)
    return _from_pil(Image.open(buffer).convert("RGB"))


def _pixelate(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    image = _pil(x)
    size = image.size
    small = image.resize((max(1, int(size[0] * c)), max(1, int(size[1] * c))), Image.Resampling.BOX)
    return _from_pil(small.resize(size, Image.Resampling.BOX))


IMAGE_CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "speckle_noise": _speckle_noise,
    "gaussian_blur": _gaussian_blur,
    "contrast": _contrast,
    "brightness": _brightness,
    "jpeg_compression": _jpeg_compression,
    "pixelate": _pixelate,
}


def corrupt_images(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """`images` float NCHW in [0, 1] -> the same corrupted at `severity` (1-5), clipped to [0, 1]."""
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1-5, got {severity}")
    constant = SEVERITY_CONSTANTS[name][severity - 1]
    rng = np.random.default_rng(seed)
    corruption = IMAGE_CORRUPTIONS[name]
    return np.stack([np.clip(corruption(image, constant, rng), 0, 1) for image in images]).astype(np.float32)


def noise_at_snr(waveforms: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise per clip at `snr_db` against the clip's power, clipped to [-1, 1]."""
    rng = np.random.default_rng(seed)
    power = np.mean(np.square(waveforms, dtype=np.float64), axis=1, keepdims=True)
    noise = rng.standard_normal(waveforms.shape) * np.sqrt(power * 10 ** (-snr_db / 10))
    return np.clip(waveforms + noise, -1, 1).astype(np.float32)


def snr_db(clean: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Per clip: 10 log10(signal power / perturbation power)."""
    signal = np.sum(np.square(clean, dtype=np.float64), axis=1)
    noise = np.sum(np.square(perturbed.astype(np.float64) - clean), axis=1)
    return 10 * np.log10(np.maximum(signal, 1e-20) / np.maximum(noise, 1e-20))
