"""The epoch loop both models share: schedule, time budget, SIGTERM, checkpoints, metric lines.

The framework-specific work sits behind `EpochTrainer`. Every rank runs the same loop; once per
step the ranks agree (a tiny all-reduce) on whether to stop, so that a SIGTERM reaching one host
first, or a time budget that runs out a few milliseconds apart, never leaves a rank waiting in a
collective for a peer that stopped.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from training.checkpoint import CheckpointStore, LoopState
from training.errors import TrainingError
from training.reporting import EpochMetrics, emit, progress
from training.schedule import Budget, one_cycle
from training.schedule import progress as schedule_progress

log = logging.getLogger(__name__)


class Preempted(Exception):
    """SIGTERM arrived: a checkpoint was written and the job should exit 0."""


class NonFiniteLoss(TrainingError):
    """The training loss became NaN or infinite: the weights are lost, nothing is worth exporting."""


class StopSignal:
    """Set by SIGTERM (SageMaker sends it on spot interruption and StopTrainingJob, then waits 120 s)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, *_: object) -> None:
        self._event.set()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request)


class EpochTrainer(Protocol):
    """What the loop needs from a framework. Sums are this rank's; `all_sum` adds them over ranks."""

    steps_per_epoch: int

    def batches(self, epoch: int) -> Sequence[Any]: ...
    def train_batch(self, batch: Any, learning_rate: float, step: int) -> tuple[float, float, float]: ...
    def validate(self) -> tuple[float, float]: ...
    def all_sum(self, values: Sequence[float]) -> list[float]: ...
    def write_state(self, path: Path) -> None: ...
    def read_state(self, path: Path) -> None: ...


class EpochLoop:
    def __init__(
        self,
        trainer: EpochTrainer,
        *,
        epochs: int,
        peak_lr: float,
        warmup_fraction: float,
        lr_start_fraction: float,
        lr_end_fraction: float,
        budget: Budget,
        stop: StopSignal,
        checkpoints: CheckpointStore | None,
        is_master: bool,
    ) -> None:
        self.trainer = trainer
        self.epochs = epochs
        self.peak_lr = peak_lr
        self.warmup_fraction = warmup_fraction
        self.lr_start_fraction = lr_start_fraction
        self.lr_end_fraction = lr_end_fraction
        self.budget = budget
        self.stop = stop
        self.checkpoints = checkpoints
        self.is_master = is_master
        self.state = LoopState()

    def _resume(self) -> None:
        if self.checkpoints is None:
            return
        state = self.checkpoints.load_latest(self.trainer.read_state)
        if state is not None:
            self.state = state
            self.budget.spent_before = state.spent_s
            emit(f"resumed from checkpoint at epoch={state.epoch + 1} batch={state.batch} step={state.step}")

    def _save(self) -> bool:
        """Checkpoint (on the master); False when it could not be written."""
        if self.checkpoints is None or not self.is_master:
            return True
        started = time.monotonic()
        self.state.spent_s = self.budget.elapsed()
        path = self.checkpoints.save(self.state, self.trainer.write_state)
        if path is None:
            return False
        log.info("checkpoint %s written in %.2f s", path.name, time.monotonic() - started)
        return True

    def _agree_to_stop(self, diverged: bool) -> tuple[bool, bool, float]:
        """(SIGTERM on any rank, budget spent on any rank, the ranks' mean budget fraction); raises on
        every rank together when any rank's last step had a non-finite loss. The fraction shapes the
        learning rate: each rank's own clock would give each replica a slightly different rate, and
        the replicas' weights would drift apart."""
        preempt, budget, bad, fraction, ranks = self.trainer.all_sum(
            [float(self.stop.requested), float(self.budget.exhausted()), float(diverged), self.budget.fraction(), 1.0]
        )
        if bad > 0:
            self._diverged()
        return preempt > 0, budget > 0, fraction / max(ranks, 1.0)

    def _diverged(self, which: str = "training") -> None:
        state = self.state
        raise NonFiniteLoss(
            f"the {which} loss became NaN or infinite in epoch {state.epoch + 1} at step {state.step} "
            f"(peak learning_rate {self.peak_lr:g}); lower learning_rate or check the data for extreme values. "
            "No model was written and no checkpoint was taken of the diverged weights"
        )

    def run(self) -> list[dict[str, float]]:
        self._resume()
        state = self.state
        total_steps = self.epochs * self.trainer.steps_per_epoch
        budget_spent = False
        while state.epoch < self.epochs and not budget_spent:
            batches = self.trainer.batches(state.epoch)
            partial = state.partial or {"loss": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
            started, lr, diverged = time.monotonic(), 0.0, False
            for batch in progress(
                batches[state.batch :], len(batches) - state.batch, f"epoch {state.epoch + 1}/{self.epochs}"
            ):
                preempted, budget_spent, budget_fraction = self._agree_to_stop(diverged)
                if preempted:
                    partial["seconds"] += time.monotonic() - started
                    state.partial = partial
                    written = "written" if self._save() else "NOT written (see the warning above)"
                    raise Preempted(f"SIGTERM: checkpoint {written} at epoch {state.epoch + 1}, batch {state.batch}")
                if budget_spent:
                    log.info("time budget of %.0f s spent: ending in epoch %d", self.budget.seconds, state.epoch + 1)
                    break
                lr = one_cycle(
                    schedule_progress(state.step, total_steps, budget_fraction),
                    self.peak_lr,
                    self.warmup_fraction,
                    end_fraction=self.lr_end_fraction,
                    start_fraction=self.lr_start_fraction,
                )
                loss, correct, seen = self.trainer.train_batch(batch, lr, state.step)
                diverged = not math.isfinite(loss)
                partial["loss"] += loss
                partial["correct"] += correct
                partial["seen"] += seen
                state.batch += 1
                state.step += 1
            partial["seconds"] += time.monotonic() - started
            loss, correct, seen = self.trainer.all_sum([partial["loss"], partial["correct"], partial["seen"]])
            if seen == 0:  # the budget ran out right at an epoch boundary: nothing to report
                break
            if not math.isfinite(loss):  # the sum over ranks: every rank raises here together
                self._diverged()
            val_loss, val_accuracy = self.trainer.validate()
            if not math.isfinite(val_loss):  # every rank computes the same figure: all raise together
                self._diverged("validation")
            state.epoch += 1
            metrics = EpochMetrics(
                epoch=state.epoch,
                epochs=self.epochs,
                train_loss=loss / max(seen, 1),
                train_accuracy=correct / max(seen, 1),
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                lr=lr,
                epoch_time_s=time.monotonic() - started,
                samples_per_s=seen / max(partial["seconds"], 1e-9),
            )
            state.history.append(metrics.as_dict())
            state.batch, state.partial = 0, {}
            if self.is_master:  # one metric line per epoch for the whole job, as SageMaker scrapes every host
                emit(metrics.line())
            self._save()
        return state.history
