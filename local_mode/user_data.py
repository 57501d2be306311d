"""The user's own data (`make local IMAGES=dir AUDIO=dir`): checked, then split into train and held-out.

Layouts are docs/architecture.md's: images as class folders (`<dir>/<class>/*.png|jpg|jpeg`); audio as class
folders of WAVs, flat Free-Spoken-Digit files (`<label>_<speaker>_<index>.wav`) or `.npz` feature
archives (`features`, `labels`, optional `speakers`). A seeded share of the data (a whole speaker
where the layout names speakers) is kept out of training: it becomes the job's test channel and
what the server is invoked with. Files are hard-linked into `work` (copied across file systems).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

import numpy as np

from local_mode.errors import LocalModeError
from local_mode.samples import ModelData, Sample

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
IMAGE_LAYOUT = "IMAGES=dir holding one folder per class: dir/<class>/*.png (or .jpg)"
AUDIO_LAYOUT = (
    "AUDIO=dir holding <label>_<speaker>_<index>.wav files, one folder of .wav files per class, "
    "or .npz files with 'features' and 'labels'"
)


def _link(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def _require_folder(root: Path, variable: str, layout: str) -> None:
    if not root.exists():
        raise LocalModeError(f"{variable}={root}: no such folder", f"give an existing folder: {layout}")
    if not root.is_dir():
        raise LocalModeError(f"{variable}={root}: not a folder", f"give a folder: {layout}")


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def _class_folders(root: Path, suffixes: tuple[str, ...], variable: str, layout: str) -> dict[str, list[Path]]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = {folder.name: _files(folder, suffixes) for folder in folders}
    classes = {name: files for name, files in classes.items() if files}
    if not classes:
        raise LocalModeError(
            f"{variable}={root}: empty, no class folder holds a {'/'.join(suffixes)} file",
            f"put the data there: {layout}",
        )
    if len(classes) < 2:
        raise LocalModeError(
            f"{variable}={root}: only one class ({next(iter(classes))}) has files",
            "a classifier needs at least two class folders with files",
        )
    return classes


def held_out_mask(labels: list[str], fraction: float, limit: int, seed: int) -> np.ndarray:
    """A seeded, stratified choice: per class `fraction` of its samples (at least one, never all), `limit` in all."""
    names = sorted(set(labels))
    per_class_limit = max(1, math.ceil(limit / len(names)))
    labels_array = np.asarray(labels)
    mask = np.zeros(len(labels), bool)
    rng = np.random.default_rng(seed)
    for name in names:
        members = rng.permutation(np.flatnonzero(labels_array == name))
        count = (
            0 if len(members) < 2 else min(max(1, round(fraction * len(members))), per_class_limit, len(members) - 1)
        )
        mask[members[:count]] = True
    return mask


def _split_class_folders(
    classes: dict[str, list[Path]], work: Path, fraction: float, limit: int, seed: int
) -> list[Sample]:
    entries = [(name, path) for name, files in classes.items() for path in files]
    mask = held_out_mask([name for name, _ in entries], fraction, limit, seed)
    samples = []
    for (name, path), held in zip(entries, mask, strict=True):
        target = _link(path, work / ("held_out" if held else "train") / name / path.name)
        if held:
            samples.append(Sample(target, name))
    return samples


def image_data(root: Path, work: Path, fraction: float, limit: int, seed: int = 0) -> ModelData:
    root = root.expanduser().resolve()
    _require_folder(root, "IMAGES", IMAGE_LAYOUT)
    classes = _class_folders(root, IMAGE_SUFFIXES, "IMAGES", IMAGE_LAYOUT)
    if work.exists():
        shutil.rmtree(work)
    samples = _split_class_folders(classes, work, fraction, limit, seed)
    if not samples:
        raise LocalModeError(
            f"IMAGES={root}: too few images to keep any out of training", "give at least two images in a class folder"
        )
    return ModelData(
        "cnn", work / "train", work / "held_out", tuple(samples), f"your images in {root}: {len(classes)} classes"
    )


def _split_fsdd(files: list[Path], work: Path, fraction: float, limit: int, seed: int) -> tuple[list[Sample], str]:
    """Hold out a whole speaker (as the job's validation split does) when there are two or more."""
    names = [FSDD_NAME.match(p.name) for p in files]
    labels = [m["label"] for m in names if m]
    speakers = sorted({m["speaker"] for m in names if m})
    if len(speakers) >= 2:
        held_speaker = speakers[int(np.random.default_rng(seed).integers(len(speakers)))]
        mask = np.asarray([m["speaker"] == held_speaker for m in names if m])
        how = f"speaker {held_speaker} held out"
    else:
        mask, how = held_out_mask(labels, fraction, limit, seed), f"one speaker, {fraction:.0%} held out"
    samples: list[Sample] = []
    for path, label, held in zip(files, labels, mask, strict=True):
        if not held:
            _link(path, work / "train" / path.name)
        elif len(samples) < limit:
            samples.append(Sample(_link(path, work / "held_out" / path.name), label))
    return samples, how


def _split_npz(files: list[Path], work: Path, fraction: float, limit: int, seed: int) -> list[Sample]:
    arrays: dict[str, list[np.ndarray]] = {"features": [], "labels": [], "speakers": []}
    for path in files:
        try:
            with np.load(path, allow_pickle=False) as archive:
                if "features" not in archive or "labels" not in archive:
                    raise LocalModeError(f"{path}: no 'features' or 'labels' array", AUDIO_LAYOUT)
                arrays["features"].append(archive["features"])
                arrays["labels"].append(archive["labels"].astype(str))
                if "speakers" in archive:
                    arrays["speakers"].append(archive["speakers"].astype(str))
        except (OSError, ValueError) as error:
            raise LocalModeError(f"{path}: not a readable .npz archive ({error})", AUDIO_LAYOUT) from None
    features, labels = np.concatenate(arrays["features"]), np.concatenate(arrays["labels"])
    held = held_out_mask(labels.tolist(), fraction, limit, seed)
    for split, mask in (("train", ~held), ("held_out", held)):
        (work / split).mkdir(parents=True)
        extra = {"speakers": np.concatenate(arrays["speakers"])[mask]} if len(arrays["speakers"]) == len(files) else {}
        np.savez(work / split / "features.npz", features=features[mask], labels=labels[mask], **extra)
    samples = []
    (work / "held_out_arrays").mkdir()
    for index in np.flatnonzero(held):
        path = work / "held_out_arrays" / f"{index:06d}_{labels[index]}.npy"
        np.save(path, features[index].astype(np.float32))
        samples.append(Sample(path, str(labels[index])))
    return samples


def audio_data(root: Path, work: Path, fraction: float, limit: int, seed: int = 0) -> ModelData:
    root = root.expanduser().resolve()
    _require_folder(root, "AUDIO", AUDIO_LAYOUT)
    if work.exists():
        shutil.rmtree(work)
    npz, wavs = _files(root, (".npz",)), _files(root, (".wav",))
    if npz:
        samples, how = _split_npz(npz, work, fraction, limit, seed), f"{len(npz)} .npz archive(s)"
    elif wavs:
        unnamed = [p.name for p in wavs if not FSDD_NAME.match(p.name)]
        if unnamed:
            raise LocalModeError(
                f"AUDIO={root}: {unnamed[0]} is not named <label>_<speaker>_<index>.wav",
                "rename the files so, or put them in one folder per class",
            )
        samples, how = _split_fsdd(wavs, work, fraction, limit, seed)
    else:
        classes = _class_folders(root, (".wav",), "AUDIO", AUDIO_LAYOUT)
        samples, how = _split_class_folders(classes, work, fraction, limit, seed), f"{len(classes)} class folders"
    if not samples:
        raise LocalModeError(
            f"AUDIO={root}: too few files to keep any out of training", "give at least two files per class"
        )
    return ModelData("mlp", work / "train", work / "held_out", tuple(samples), f"your audio in {root}: {how}")
