"""What every data layout loads into, and the checks shared by the class-folder layouts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from training.errors import DataError


@dataclass
class Dataset:
    """Inputs with integer labels into `class_names`.

    `groups` names who produced each sample (the speaker, for audio) when the layout tells,
    so that validation can hold out whole groups.
    """

    inputs: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    groups: np.ndarray | None
    source: Path
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> Dataset:
        return Dataset(
            inputs=self.inputs[indices],
            labels=self.labels[indices],
            class_names=self.class_names,
            groups=None if self.groups is None else self.groups[indices],
            source=self.source,
        )


def require_directory(root: Path) -> None:
    if not root.exists():
        raise DataError(f"{root}: data channel folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: data channel must be a folder")


def list_class_folders(
    root: Path, suffixes: tuple[str, ...], kind: str, class_names: list[str] | None = None
) -> list[Path]:
    """The class folders under `root`, sorted; each must hold at least one `kind` file.

    With `class_names` (a validation or test channel), every folder must be one of those classes.
    """
    require_directory(root)
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    if not folders:
        raise DataError(f"{root}: no class folders; expected {root}/<class_name>/*{'|'.join(suffixes)}")
    for folder in folders:
        if not any(p.suffix.lower() in suffixes for p in folder.iterdir() if p.is_file()):
            raise DataError(f"{folder}: empty class folder (no {kind} files: {', '.join(suffixes)})")
    if class_names is not None:
        unknown = [f.name for f in folders if f.name not in class_names]
        if unknown:
            raise DataError(
                f"{root}: class folder(s) {', '.join(unknown)} not in the train channel's classes "
                f"({', '.join(class_names)})"
            )
    elif len(folders) < 2:
        raise DataError(f"{root}: found a single class ({folders[0].name}); a classifier needs at least 2 classes")
    return folders
