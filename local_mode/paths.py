"""Where the container build contexts and their programs are in this repository."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINING_DIR = REPO / "training"
INFERENCE_DIR = REPO / "inference"
TRAIN_PROGRAM = TRAINING_DIR / "train"
DEFAULT_OUTPUT = REPO / "local"


def python_bin_dir() -> Path:
    """The folder of this interpreter (the venv's `bin`), put first on PATH so `train` finds `python`."""
    return Path(sys.executable).parent
