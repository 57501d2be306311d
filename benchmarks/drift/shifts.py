"""The shifts `make bench-drift` generates: common image corruptions and audio degradations.

Images: five of the CIFAR-10-C corruptions (Hendrycks and Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019), with that paper's CIFAR parameters for
severities 1 to 5, written here with numpy, scipy and Pillow. Input and output: uint8 (N, H, W, 3).
Audio: white noise at a given SNR over the clip's own power, speed changed by resampling (pitch moves
with it, as a tape played fast), on raw clips before the server's fitting to the model's length.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.signal import resample_poly

SEVERITIES = (1, 2, 3, 4, 5)
GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)
BLUR_SIGMA = (0.4, 0.6, 0.7, 0.8, 1.0)
JPEG_QUALITY = (80, 65, 58, 50, 40)


def _unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def _uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def gaussian_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(images)
    return _uint8(x + rng.normal(0, GAUSSIAN_NOISE[severity - 1], size=x.shape))


def brightness(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    hsv = rgb_to_hsv(_unit(images))
    hsv[..., 2] = np.clip(hsv[..., 2] + BRIGHTNESS[severity - 1], 0, 1)
    return _uint8(hsv_to_rgb(hsv))


def contrast(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = _unit(images)
    means = x.mean(axis=(1, 2, 3), keepdims=True)
    return _uint8((x - means) * CONTRAST[severity - 1] + means)


def gaussian_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = BLUR_SIGMA[severity - 1]
    return _uint8(gaussian_filter(_unit(images), sigma=(0, sigma, sigma, 0)))


def jpeg(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY[severity - 1])
        out[i] = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return out


IMAGE_SHIFTS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": gaussian_noise,
    "brightness": brightness,
    "contrast": contrast,
    "gaussian_blur": gaussian_blur,
    "jpeg": jpeg,
}


def add_noise(clip: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise at `snr_db` below the clip's mean power."""
    power = float(np.mean(clip.astype(np.float64) ** 2)) or 1e-10
    noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), size=clip.shape)
    return np.clip(clip + noise, -1, 1).astype(np.float32)


SPEEDS = {"speed_+10%": (10, 11), "speed_-10%": (10, 9)}  # resampling ratio up/down: 10/11 plays 10% faster


def change_speed(clip: np.ndarray, name: str) -> np.ndarray:
    """The clip played faster (shorter, higher) or slower, by polyphase resampling at the same rate."""
    up, down = SPEEDS[name]
    return resample_poly(clip, up, down).astype(np.float32)
