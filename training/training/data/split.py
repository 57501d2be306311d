"""Seeded train/validation splits when the user brings no validation channel.

Where the layout names who produced each sample (speakers), whole groups are held out, so the
validation figure says how the model does on speakers it never heard.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.model_selection import train_test_split
from training.data.folders import Dataset
from training.errors import DataError

log = logging.getLogger(__name__)


def _group_split(data: Dataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    assert data.groups is not None
    groups = np.unique(data.groups)
    if len(groups) < 2:
        return None
    order = np.random.default_rng(seed).permutation(groups)
    held_out: list[str] = []
    for group in order[:-1]:  # at least one group stays in training
        held_out.append(group)
        if np.isin(data.groups, held_out).mean() >= fraction:
            break
    is_validation = np.isin(data.groups, held_out)
    log.info(
        "validation split by speaker: holding out %s (%d of %d samples)",
        ", ".join(sorted(held_out)),
        int(is_validation.sum()),
        len(data),
    )
    return np.flatnonzero(~is_validation), np.flatnonzero(is_validation)


def split_train_validation(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    if fraction <= 0:
        raise DataError(
            "no validation channel and validation_fraction=0: give a 'validation' channel "
            "or a validation_fraction in (0, 1)"
        )
    indices = None
    if data.groups is not None:
        indices = _group_split(data, fraction, seed)
    if indices is None:
        counts = np.bincount(data.labels, minlength=len(data.class_names))
        stratify = data.labels if counts.min() >= 2 and round(fraction * len(data)) >= len(data.class_names) else None
        try:
            train, validation = train_test_split(
                np.arange(len(data)), test_size=fraction, random_state=seed, stratify=stratify
            )
        except ValueError as error:
            raise DataError(
                f"{data.source}: cannot split {len(data)} samples into train and validation "
                f"({error}); add data or a 'validation' channel"
            ) from None
        indices = (np.sort(train), np.sort(validation))
    return data.subset(indices[0]), data.subset(indices[1])
