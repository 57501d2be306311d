"""What a model is trained on and what its server is invoked with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One held-out input file (PNG, WAV or .npy) and its true class name."""

    path: Path
    label: str


@dataclass(frozen=True)
class ModelData:
    """The train channel's contents, the test channel's (the held-out set) and its samples."""

    model: str
    train: Path
    held_out: Path
    samples: tuple[Sample, ...]
    description: str
