"""The reference profile a training job wrote into its artifact (docs/contracts.md, "Reference profile")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_JSON = "reference_profile.json"
SCHEMA_VERSION = 1


class NoReference(Exception):
    """The artifact has no usable reference profile (an artifact older than the profile, or a damaged one)."""


@dataclass(frozen=True)
class Reference:
    model: str
    class_names: list[str]
    embeddings: dict[str, np.ndarray]  # space -> (rows, dims)
    probabilities: np.ndarray  # (rows, classes)
    statistics: dict[str, np.ndarray]  # statistic -> (rows,)
    raw: dict[str, Any]

    @property
    def class_counts(self) -> np.ndarray:
        return np.bincount(self.probabilities.argmax(axis=1), minlength=len(self.class_names))


def load_reference(model_dir: Path) -> Reference:
    path = model_dir / PROFILE_JSON
    if not path.is_file():
        raise NoReference(
            f"{path}: no reference profile in this artifact (trained before profiles existed?); "
            "retrain with the current training image to monitor it"
        )
    try:
        raw = json.loads(path.read_text())
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise NoReference(
                f"{path}: schema_version {raw.get('schema_version')!r}; this monitor reads {SCHEMA_VERSION}"
            )
        arrays_path = model_dir / raw["arrays"]
        with np.load(arrays_path) as arrays:
            data = {key: arrays[key] for key in arrays.files}
    except NoReference:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NoReference(f"{path}: unreadable reference profile: {type(error).__name__}: {error}") from error
    embeddings = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("embedding/")}
    statistics = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("statistic/")}
    if "probabilities" not in data or not embeddings:
        raise NoReference(f"{arrays_path}: holds no probabilities or no embeddings")
    return Reference(
        model=raw["model"],
        class_names=list(raw["class_names"]),
        embeddings=embeddings,
        probabilities=data["probabilities"],
        statistics=statistics,
        raw=raw,
    )
