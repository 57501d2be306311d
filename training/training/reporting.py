"""Per-epoch metric lines (parsed by `metric_definitions.json`) and progress bars on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    epoch_time_s: float
    samples_per_s: float

    def line(self) -> str:
        return (
            f"epoch={self.epoch} epochs={self.epochs} train_loss={self.train_loss:.4f} "
            f"train_accuracy={self.train_accuracy:.4f} val_loss={self.val_loss:.4f} "
            f"val_accuracy={self.val_accuracy:.4f} lr={self.lr:.6f} epoch_time_s={self.epoch_time_s:.1f} "
            f"samples_per_s={self.samples_per_s:.1f}"
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def final_line(split: str, num_samples: int, accuracy: float, macro_f1: float) -> str:
    return f"final split={split} num_samples={num_samples} accuracy={accuracy:.4f} macro_f1={macro_f1:.4f}"


def emit(line: str) -> None:
    """Metric lines go to stdout unbuffered: SageMaker scrapes them from the log stream.

    One write per line (shorter than PIPE_BUF), so lines from the ranks of one host never interleave.
    """
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def progress(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """A progress bar when stdout is a terminal; the plain iterable otherwise (SageMaker logs)."""
    if not sys.stdout.isatty():
        return iter(items)
    return iter(tqdm(items, total=total, desc=description, leave=False, dynamic_ncols=True))
