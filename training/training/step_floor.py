"""Small data: never fewer optimizer steps than a measured floor, and batches small enough that an
epoch holds several of them.

A recipe sized in epochs starves a small data set: 120 photos (108 to train) at batch 64 and 6
epochs is 6 to 12 optimizer steps, and the model ends where it started (every image one class,
p 0.51). Both models' jobs run their resolved batch size and epochs through `plan`:
- a train set smaller than `MIN_STEPS_PER_EPOCH` batches gets a smaller batch (never below
  `MIN_BATCH`), the peak learning rate scaled by the same factor (the linear scaling rule; Goyal et
  al. 2017, "Accurate, Large Minibatch SGD");
- the epochs rise until the run holds `min_steps` optimizer steps (hyperparameter; 0: off).
Large data sets pass through unchanged. The time budget still ends the run (the schedule follows
the budget when it is spent first, training/schedule.py). The floor's default (100) is measured
(benchmarks/small_data.py, benchmarks/results/small-data-2026-12-07.md): on the 120-photo stand-in,
local mode's recipe at 6 steps answered one class for every image (accuracy 0.500, 3 seeds); at 100
steps 0.577 (2 seeds) on 500 other images; at 300 steps 0.564 (1 seed, no better, 2.2x the CPU time).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

MIN_STEPS_PER_EPOCH = 4
MIN_BATCH = 16


@dataclass(frozen=True)
class StepPlan:
    """What a job trains with after the floor; `changed` lists what differs from what was asked."""

    n_train: int
    batch_size: int
    epochs: int
    learning_rate: float
    steps_per_epoch: int
    min_steps: int
    changed: tuple[str, ...] = ()

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": list(self.changed), "steps": self.steps}

    def line(self, asked_batch: int, asked_epochs: int) -> str:
        """One log line for a plan that changed something."""
        return (
            f"small data: {self.n_train} training samples; batch_size {asked_batch} -> {self.batch_size}, "
            f"epochs {asked_epochs} -> {self.epochs}, learning_rate {self.learning_rate:g}: {self.steps} optimizer "
            f"steps (min_steps={self.min_steps}; fewer leave a small data set's model at chance)"
        )


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """As `training.sampler.global_batches` cuts an epoch: whole batches, at least one."""
    return max(1, n_train // max(batch_size, 1))


def plan(
    n_train: int, batch_size: int, epochs: int, learning_rate: float, min_steps: int, shrink_batch: bool = True
) -> StepPlan:
    """The batch size, epochs and peak learning rate a job trains `n_train` samples with. `shrink_batch`:
    the CNN's SGD (measured); the MLP's AdamW keeps its batch (a smaller batch at a linearly scaled
    rate measured worse on a small spoken-digit set, 0.518 against 0.560) and only gets more epochs."""
    changed = []
    batch = batch_size
    if shrink_batch and min_steps > 0 and n_train < batch_size * MIN_STEPS_PER_EPOCH and batch_size > MIN_BATCH:
        batch = max(MIN_BATCH, min(batch_size, n_train // MIN_STEPS_PER_EPOCH))
        if batch != batch_size:
            changed.append("batch_size")
            learning_rate = learning_rate * batch / batch_size
            changed.append("learning_rate")
    per_epoch = steps_per_epoch(n_train, batch)
    planned = epochs
    if min_steps > 0 and epochs * per_epoch < min_steps:
        planned = math.ceil(min_steps / per_epoch)
        changed.append("epochs")
    return StepPlan(n_train, batch, planned, learning_rate, per_epoch, min_steps, tuple(changed))
