"""The learning-rate schedule and the time budget that shapes it.

Progress runs from 0 to 1 over the planned steps or over `time_budget_s`, whichever is spent first,
so with a budget the learning rate reaches its end when the budget does, instead of being cut off
at a high rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Budget:
    seconds: float  # 0: no budget
    spent_before: float = 0.0  # seconds spent by earlier runs of the same job (resumed checkpoints)
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return self.spent_before + time.monotonic() - self.started

    def fraction(self) -> float:
        return min(1.0, self.elapsed() / self.seconds) if self.seconds > 0 else 0.0

    def exhausted(self) -> bool:
        return self.seconds > 0 and self.elapsed() >= self.seconds


def progress(step: int, total_steps: int, budget_fraction: float) -> float:
    """The schedule's position: steps done or budget spent (`Budget.fraction`, agreed over ranks)."""
    return min(1.0, max(step / max(total_steps, 1), budget_fraction))


def one_cycle(
    progress_fraction: float,
    peak: float,
    warmup_fraction: float,
    *,
    end_fraction: float,
    start_fraction: float,
) -> float:
    """Linear warm-up from `start_fraction * peak` to `peak`, then linear decay to `end_fraction * peak`
    (a triangular one-cycle)."""
    p = min(max(progress_fraction, 0.0), 1.0)
    if warmup_fraction > 0 and p < warmup_fraction:
        return peak * (start_fraction + (1 - start_fraction) * p / warmup_fraction)
    span = max(1.0 - warmup_fraction, 1e-9)
    return peak * (end_fraction + (1 - end_fraction) * (1.0 - p) / span)
