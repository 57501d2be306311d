"""Audio data in the layouts users bring.

- class folders: `<channel>/<class_name>/*.wav`
- Free-Spoken-Digit naming: `<channel>/<label>_<speaker>_<index>.wav` (speakers become groups)
- precomputed MFCC: `<channel>/*.npz` with `features` (N, frames, coefficients) and `labels`

WAV decoding follows docs/contracts.md step by step; the server implements the same steps and a
parity test pins the two together.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly
from training.data.folders import Dataset, list_class_folders, require_directory
from training.errors import DataError

log = logging.getLogger(__name__)
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)


# What one file may ask of the resampler, the same bounds as the server's (docs/contracts.md): a header
# claiming 2,147,483,647 Hz would ask resample_poly for a filter of billions of taps. Real rates
# (8 kHz to 384 kHz) reduce to small ratios (44100 -> 8000 is 80/441).
MIN_SOURCE_RATE = 1_000
MAX_SOURCE_RATE = 768_000
MAX_RESAMPLE_FACTOR = 50_000
MAX_SECONDS = 600


@dataclass(frozen=True)
class AudioSettings:
    sample_rate: int
    num_samples: int
    on_bad_file: str = "error"


def decode_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the file's own sample rate."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except Exception as error:  # as the server's decoder: scipy raises ValueError, struct.error, ZeroDivisionError...
        raise DataError(f"{path}: not a readable WAV file ({error})") from None
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise DataError(f"{path}: WAV sample rate {rate} Hz is outside {MIN_SOURCE_RATE}..{MAX_SOURCE_RATE} Hz")
    if data.size == 0:
        raise DataError(f"{path}: WAV file holds no samples")
    if data.shape[0] > MAX_SECONDS * rate:
        raise DataError(f"{path}: WAV is longer than {MAX_SECONDS} s")
    if data.dtype == np.uint8:
        samples = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        samples = data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    else:
        samples = data.astype(np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples, int(rate)


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return samples
    divisor = gcd(target_rate, source_rate)
    return resample_poly(samples, target_rate // divisor, source_rate // divisor).astype(np.float32)


def fit_length(samples: np.ndarray, num_samples: int) -> np.ndarray:
    """Cut to the centre `num_samples`, or zero-pad equally on both sides (the extra sample at the end)."""
    length = len(samples)
    if length >= num_samples:
        start = (length - num_samples) // 2
        return samples[start : start + num_samples]
    before = (num_samples - length) // 2
    return np.pad(samples, (before, num_samples - length - before))


def load_waveform(path: Path, sample_rate: int, num_samples: int) -> np.ndarray:
    samples, rate = decode_wav(path)
    divisor = gcd(sample_rate, rate)
    if max(sample_rate, rate) // divisor > MAX_RESAMPLE_FACTOR:
        raise DataError(
            f"{path}: WAV sample rate {rate} Hz has no practical ratio to {sample_rate} Hz "
            f"({sample_rate // divisor}/{rate // divisor}, over {MAX_RESAMPLE_FACTOR:,})"
        )
    return fit_length(resample(samples, rate, sample_rate), num_samples).astype(np.float32)


def _wav_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav")


def _scan(root: Path, class_names: list[str] | None) -> tuple[list[Path], list[str], list[str | None]]:
    """Files, their class names and speakers (None where the layout does not tell)."""
    subfolders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if subfolders:
        paths, labels, speakers = [], [], []
        for folder in list_class_folders(root, (".wav",), "WAV", class_names):
            for path in _wav_files(folder):
                match = FSDD_NAME.match(path.name)
                paths.append(path)
                labels.append(folder.name)
                speakers.append(match["speaker"] if match else None)
        return paths, labels, speakers
    paths = _wav_files(root)
    if not paths:
        raise DataError(
            f"{root}: no audio found; expected <class>/*.wav folders, <label>_<speaker>_<index>.wav "
            "files or .npz feature files"
        )
    labels, speakers = [], []
    for path in paths:
        match = FSDD_NAME.match(path.name)
        if not match:
            raise DataError(
                f"{path}: a flat audio folder needs Free-Spoken-Digit names <label>_<speaker>_<index>.wav "
                "(or put the files in class folders)"
            )
        labels.append(match["label"])
        speakers.append(match["speaker"])
    return paths, labels, speakers


def _class_order(found: list[str], class_names: list[str] | None, root: Path) -> list[str]:
    if class_names is not None:
        unknown = sorted(set(found) - set(class_names))
        if unknown:
            raise DataError(
                f"{root}: label(s) {', '.join(unknown)} not in the train channel's classes ({', '.join(class_names)})"
            )
        return class_names
    names = sorted(set(found), key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
    if len(names) < 2:
        raise DataError(f"{root}: found a single class ({names[0]}); a classifier needs at least 2 classes")
    return names


def load_wav_folder(root: Path, settings: AudioSettings, class_names: list[str] | None = None) -> Dataset:
    require_directory(root)
    paths, labels, speakers = _scan(root, class_names)
    names = _class_order(labels, class_names, root)
    waves, kept = [], []
    for i, path in enumerate(paths):
        try:
            waves.append(load_waveform(path, settings.sample_rate, settings.num_samples))
            kept.append(i)
        except DataError:
            if settings.on_bad_file != "skip":
                raise
    skipped = len(paths) - len(kept)
    if skipped:
        log.warning("skipped %d unreadable WAV file(s) under %s (on_bad_file=skip)", skipped, root)
    if not kept:
        raise DataError(f"{root}: no readable WAV files")
    known = all(speakers[i] is not None for i in kept)
    return Dataset(
        inputs=np.stack(waves),
        labels=np.asarray([names.index(labels[i]) for i in kept], dtype=np.int64),
        class_names=names,
        groups=np.asarray([speakers[i] for i in kept]) if known else None,
        source=root,
        skipped=skipped,
    )


def load_npz_folder(root: Path, class_names: list[str] | None = None) -> Dataset:
    """Precomputed features: every `.npz` in the folder, concatenated."""
    require_directory(root)
    files = sorted(root.glob("*.npz"))
    features: list[np.ndarray] = []
    labels: list[str] = []
    groups: list[np.ndarray | None] = []
    for path in files:
        try:
            with np.load(path, allow_pickle=False) as archive:
                missing = [k for k in ("features", "labels") if k not in archive]
                if missing:
                    raise DataError(
                        f"{path}: missing array(s) {', '.join(missing)}; an MFCC archive needs "
                        "'features' (N, frames, coefficients) and 'labels' (N,)"
                    )
                x, y = archive["features"], archive["labels"]
                g = archive["speakers"] if "speakers" in archive else None
        except (ValueError, OSError) as error:
            raise DataError(f"{path}: not a readable .npz archive ({error})") from None
        if x.ndim != 3 or len(x) != len(y):
            raise DataError(
                f"{path}: 'features' must be (N, frames, coefficients) with N = len(labels); "
                f"got features {x.shape} and labels {y.shape}"
            )
        if features and x.shape[1:] != features[0].shape[1:]:
            raise DataError(f"{path}: features of shape {x.shape[1:]} differ from {files[0]}'s {features[0].shape[1:]}")
        features.append(x.astype(np.float32))
        labels.extend(str(v) for v in y.tolist())
        groups.append(g)
    if not features:
        raise DataError(f"{root}: no .npz files")
    names = _class_order(labels, class_names, root)
    known = all(g is not None for g in groups)
    speakers = np.concatenate([np.asarray(g).astype(str) for g in groups]) if known else None
    return Dataset(
        inputs=np.concatenate(features),
        labels=np.asarray([names.index(v) for v in labels], dtype=np.int64),
        class_names=names,
        groups=speakers,
        source=root,
    )


def load_audio_channel(root: Path, settings: AudioSettings, class_names: list[str] | None = None) -> Dataset:
    """WAV layouts or `.npz` features, whichever the folder holds."""
    require_directory(root)
    has_npz = any(root.glob("*.npz"))
    has_wav = any(root.glob("*.wav")) or any(root.glob("*/*.wav"))
    if has_npz and has_wav:
        raise DataError(f"{root}: holds both .npz features and WAV files; use one kind per channel")
    if has_npz:
        return load_npz_folder(root, class_names)
    return load_wav_folder(root, settings, class_names)
