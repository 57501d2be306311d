"""Under a time budget every rank takes the same learning rate: the ranks' mean budget fraction."""

import pytest
from training.loop import EpochLoop, StopSignal
from training.schedule import Budget, one_cycle


class TwoRankTrainer:
    """One rank of two; the peer's clock is always `peer_fraction` of the budget along."""

    steps_per_epoch = 2

    def __init__(self, peer_fraction):
        self.peer_fraction = peer_fraction
        self.rates = []

    def batches(self, epoch):
        return [0, 1]

    def train_batch(self, batch, learning_rate, step):
        self.rates.append(learning_rate)
        return 1.0, 1.0, 1.0

    def validate(self):
        return 0.0, 1.0

    def all_sum(self, values):
        if len(values) == 5:  # the per-step agreement: the peer adds its flags and its budget fraction
            return [values[0], values[1], values[2], values[3] + self.peer_fraction, values[4] + 1.0]
        return [2 * v for v in values]

    def write_state(self, path):
        pass

    def read_state(self, path):
        pass


class FrozenBudget(Budget):
    def fraction(self):
        return 0.5


def test_the_learning_rate_follows_the_ranks_mean_budget_fraction():
    trainer = TwoRankTrainer(peer_fraction=0.9)
    loop = EpochLoop(
        trainer,
        epochs=1,  # two steps: step / total stays at most 0.5, below the agreed fraction
        peak_lr=1.0,
        warmup_fraction=0.25,
        lr_start_fraction=0.02,
        lr_end_fraction=0.02,
        budget=FrozenBudget(1000.0),
        stop=StopSignal(),
        checkpoints=None,
        is_master=True,
    )
    loop.run()
    assert (
        trainer.rates == [one_cycle(0.7, 1.0, 0.25, end_fraction=0.02, start_fraction=0.02)] * 2
    )  # (0.5 + 0.9) / 2, not this rank's 0.5


def test_the_one_cycle_rises_from_its_start_to_the_peak_then_falls_to_its_end():
    def rate(p):
        return one_cycle(p, 2.0, 0.25, end_fraction=0.07, start_fraction=0.2)

    assert rate(0.0) == pytest.approx(0.4)
    assert rate(0.125) == pytest.approx(1.2)
    assert rate(0.25) == pytest.approx(2.0)
    assert rate(1.0) == pytest.approx(0.14)
    assert rate(0.625) == pytest.approx((2.0 + 0.14) / 2)
