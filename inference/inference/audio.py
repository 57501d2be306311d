"""WAV bytes -> the model's waveform input, exactly as docs/contracts.md fixes it.

1. decode PCM 8/16/24/32-bit integer or 32/64-bit float (`scipy.io.wavfile.read`), integers scaled
   to [-1, 1] by their type's full scale (`int16 / 32768`, `uint8: (x - 128) / 128`);
2. downmix to mono by the mean over channels;
3. resample with `scipy.signal.resample_poly(x, up, down)`, up/down = target/source reduced by gcd;
4. centre-crop to `num_samples`, or zero-pad equally on both sides (the extra sample at the end).
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from inference.errors import BadRequest, WrongShape

# Bounds that keep one request's resampling cost and memory small (a 1 Hz header would ask for an
# 8000x upsampling of up to 6 MB of samples).
MIN_SOURCE_RATE = 1_000
MAX_SOURCE_RATE = 768_000
MAX_RESAMPLED_SECONDS = 600
# resample_poly designs a filter of about 20 * max(up, down) taps: 767999 Hz -> 8000 Hz (no common
# factor) would take 15 million taps, seconds and most of a GiB. Real rates reduce to small ratios
# (44100 -> 8000 is 80/441).
MAX_RESAMPLE_FACTOR = 50_000

# scipy warns about chunks it skips (LIST, cue, ...); they are harmless. Set once: catch_warnings()
# is not thread-safe and decoding runs in several threads.
warnings.filterwarnings("ignore", category=wavfile.WavFileWarning)


def _to_float(data: np.ndarray) -> np.ndarray:
    """float32 samples (the training side decodes in float32 too, so both agree bit for bit)."""
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(data.dtype, np.signedinteger):
        return data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    if np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float32)
    raise BadRequest(f"WAV sample type {data.dtype} is not supported")


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """Centre-crop or zero-pad (equally on both sides, the odd sample at the end) to num_samples."""
    length = x.shape[0]
    if length >= num_samples:
        start = (length - num_samples) // 2
        return x[start : start + num_samples]
    before = (num_samples - length) // 2
    return np.pad(x, (before, num_samples - length - before))


def decode_wav(body: bytes, sample_rate: int, num_samples: int) -> np.ndarray:
    """Decode one WAV file into a float32 `(num_samples,)` waveform at `sample_rate`."""
    try:
        source_rate, data = wavfile.read(io.BytesIO(body))
    except Exception as error:  # scipy raises ValueError, EOFError, struct.error, ... on bad files
        raise BadRequest(f"body is not a readable WAV file: {error}") from None
    if not MIN_SOURCE_RATE <= source_rate <= MAX_SOURCE_RATE:
        raise WrongShape(f"WAV sample rate {source_rate} Hz is outside {MIN_SOURCE_RATE}..{MAX_SOURCE_RATE} Hz")
    if data.ndim not in (1, 2) or data.shape[0] == 0 or (data.ndim == 2 and data.shape[1] == 0):
        raise WrongShape(f"WAV holds no samples (shape {data.shape})")
    samples = _to_float(data)
    if not np.isfinite(samples).all():
        raise WrongShape("WAV holds non-finite samples (NaN or infinity)")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    divisor = math.gcd(sample_rate, source_rate)
    up, down = sample_rate // divisor, source_rate // divisor
    if max(up, down) > MAX_RESAMPLE_FACTOR:
        raise WrongShape(f"WAV sample rate {source_rate} Hz has no practical ratio to {sample_rate} Hz ({up}/{down})")
    if samples.shape[0] * up / down > MAX_RESAMPLED_SECONDS * sample_rate:
        raise WrongShape(f"WAV is longer than {MAX_RESAMPLED_SECONDS} s")
    if up != 1 or down != 1:
        samples = resample_poly(samples, up, down)
    return fit_length(samples, num_samples).astype(np.float32)
