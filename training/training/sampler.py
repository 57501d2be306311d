"""Distributed sampling by global batches.

The permutation of an epoch depends only on the seed and the epoch. It is cut into global batches
of `batch_size`, and rank r of w takes every w-th sample of each. Every rank thus steps through the
same global batches as a one-process run, which keeps the schedule and the result comparable across
instance counts, and makes a mid-epoch resume exact even on a different number of hosts.
"""

from __future__ import annotations

import numpy as np


def global_batches(num_samples: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    steps = max(1, num_samples // batch_size)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


def rank_share(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    return batch[rank::world_size]


def step_seed(seed: int, step: int, rank: int) -> list[int]:
    """Augmentation randomness per step and rank: resumable without saving generator states."""
    return [seed, step, rank]
