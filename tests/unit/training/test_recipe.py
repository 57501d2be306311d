"""The CNN recipe: prediction from the frontier table, the choice from measured throughput, the probe."""

import math

import numpy as np
import pytest
import training.recipe as recipe
from training.errors import ConfigError
from training.recipe import Candidate, Frontier, FrontierPoint, choose

TABLE = Frontier(
    (
        FrontierPoint(width=8, epochs=10, train_samples=1000, accuracy=0.60),
        FrontierPoint(width=8, epochs=20, train_samples=2000, accuracy=0.70),
        FrontierPoint(width=8, epochs=40, train_samples=4000, accuracy=0.76),
        FrontierPoint(width=16, epochs=10, train_samples=1000, accuracy=0.55),
        FrontierPoint(width=16, epochs=20, train_samples=2000, accuracy=0.75),
        FrontierPoint(width=32, epochs=10, train_samples=1000, accuracy=0.80),
    )
)


def test_prediction_interpolates_in_log_samples_and_marks_what_it_did():
    measured = TABLE.predict(8, 2000)
    assert (measured.accuracy, measured.kind) == (0.70, "measured")
    between = TABLE.predict(8, 2000 * 2**0.5)  # half-way in log2 between 2000 and 4000
    assert between.kind == "interpolated" and between.accuracy == pytest.approx(0.73)
    assert [p.train_samples for p in between.between] == [2000, 4000]
    below = TABLE.predict(8, 500)  # the first segment's slope: 0.10 per doubling
    assert below.kind == "extrapolated" and below.accuracy == pytest.approx(0.50)


def test_beyond_the_largest_point_the_slope_halves_per_doubling_from_the_last_segments_middle():
    last_slope = 0.06  # width 8: 0.70 -> 0.76 from 2000 to 4000 samples, one doubling
    at_last_point = last_slope * 0.5**0.5  # half a doubling past that segment's middle
    one, two = TABLE.predict(8, 8000), TABLE.predict(8, 16000)
    assert one.kind == two.kind == "extrapolated"
    assert one.accuracy == pytest.approx(0.76 + at_last_point * 0.5 / math.log(2))
    assert two.accuracy == pytest.approx(0.76 + at_last_point * 0.75 / math.log(2))
    assert TABLE.predict(8, 4000 * 2**40).accuracy < 0.76 + at_last_point / math.log(2) + 1e-9  # bounded


def test_the_packaged_table_predicts_each_third_point_from_the_first_two_within_half_a_point():
    """Leave-one-out on the candidates measured at three sample counts: the extrapolation rule is
    checked against the runs it did not see (the rule before overshot them by 1.8 and 2.5 points)."""
    table = Frontier.load()
    checked = 0
    for candidate in table.candidates():
        counts = sorted({p.train_samples for p in table.points if p.candidate == candidate})
        if len(counts) != 3:
            continue
        last = [p for p in table.points if p.candidate == candidate and p.train_samples == counts[-1]]
        seen = Frontier(tuple(p for p in table.points if p not in last))
        predicted = seen.predict(candidate.width, counts[-1], candidate.family)
        measured = sum(p.accuracy for p in last) / len(last)
        assert predicted.kind == "extrapolated"
        assert abs(predicted.accuracy - measured) < 0.005, (candidate, predicted.accuracy, measured)
        checked += 1
    assert checked >= 2


def test_a_width_measured_once_is_flat_beyond_its_point():
    beyond = TABLE.predict(32, 64000)
    assert (beyond.accuracy, beyond.kind) == (0.80, "extrapolated")
    assert TABLE.predict(32, 500).accuracy < 0.80  # below it, the others' first slope
    with pytest.raises(ConfigError, match="residual width 12 is not in the frontier"):
        TABLE.predict(12, 1000)


def test_the_packaged_table_loads_and_a_bad_one_names_its_file(tmp_path):
    assert Frontier.load().candidates()
    bad = tmp_path / "frontier.json"
    bad.write_text('{"points": [{"width": 8}]}')
    with pytest.raises(ConfigError, match="frontier.json"):
        Frontier.load(bad)


def pick(rates, width=0, epochs=0, budget=100.0, table=TABLE, family="auto"):
    """`rates` per residual width, or per `Candidate`."""
    rates = {c if isinstance(c, Candidate) else Candidate("residual", c): s for c, s in rates.items()}
    return choose(
        table,
        family=family,
        width=width,
        epochs=epochs,
        samples_per_s=rates,
        budget_s=budget,
        spent_s=0.0,
        n_train=100,
        n_val=0,
    )


def test_a_fast_machine_trains_a_wider_network_or_longer_than_a_slow_one():
    table = Frontier(tuple(p for p in TABLE.points if p.width != 32))
    slow = pick({8: 10.0, 16: 5.0}, table=table)
    fast = pick({8: 100.0, 16: 50.0}, table=table)
    assert slow.chosen_by == fast.chosen_by == "budget"
    assert (slow.width, fast.width) == (8, 16)
    assert fast.epochs > slow.epochs
    assert fast.epochs == int(50.0 * 100 * (1 - recipe.SAFETY_FRACTION)) // 100  # floor(affordable / n_train)
    assert fast.predicted["residual-w16"]["kind"] == "extrapolated"
    assert fast.samples_per_s == {"residual-w8": 100.0, "residual-w16": 50.0}


def test_near_ties_go_to_the_narrower_width_and_epochs_are_clamped():
    same = Frontier(
        (
            FrontierPoint(width=8, epochs=1, train_samples=100, accuracy=0.700),
            FrontierPoint(width=16, epochs=1, train_samples=100, accuracy=0.701),
        )
    )
    choice = pick({8: 1e6, 16: 1e6}, table=same)
    assert choice.width == 8 and choice.epochs == recipe.MAX_EPOCHS


def test_given_width_or_epochs_win_and_no_budget_takes_the_default_recipe():
    assert pick({16: 1000.0}, width=16).width == 16
    given_epochs = pick({8: 100.0, 16: 20.0}, epochs=30)  # only width 8 affords 30 epochs in 100 s
    assert (given_epochs.width, given_epochs.epochs) == (8, 30)
    too_many = pick({8: 1.0, 16: 1.0}, epochs=30)
    assert (too_many.width, too_many.epochs) == (8, 30) and "the fastest" in too_many.reason
    default = recipe.default_choice(0, 0)
    assert (default.family, default.width, default.epochs, default.chosen_by) == ("residual", 24, 18, "default")
    assert default.reason == "default recipe (no time_budget_s)"
    assert recipe.default_choice(16, 5).chosen_by == "hyperparameters"


def test_validation_and_spent_seconds_reduce_what_the_budget_affords():
    full = recipe.affordable_samples(100.0, 10.0, n_train=100, n_val=0)
    with_validation = recipe.affordable_samples(100.0, 10.0, n_train=100, n_val=30)
    assert full == 1000 and with_validation == int(1000 * 100 / 110)
    assert recipe.trainable_seconds(100.0, 40.0) == pytest.approx(60.0 * (1 - recipe.SAFETY_FRACTION))
    assert recipe.trainable_seconds(100.0, 140.0) == 0.0


def test_the_probe_times_real_training_steps_of_a_throwaway_model(monkeypatch):
    import torch
    from training.cnn_recipe import measure
    from training.cnn_training import CNNTrainer
    from training.data.folders import Dataset
    from training.hyperparameters import Hyperparameters

    rng = np.random.default_rng(0)
    data = Dataset(
        rng.integers(0, 255, (40, 3, 32, 32), dtype=np.uint8), rng.integers(0, 3, 40), ["a", "b", "c"], None, None
    )
    steps: list[int] = []
    real_step = CNNTrainer.train_batch

    def counted(self, batch, lr, step):
        steps.append(self.hp.width)
        return real_step(self, batch, lr, step)

    monkeypatch.setattr(CNNTrainer, "train_batch", counted)
    hp = Hyperparameters(model="cnn", batch_size=8, probe_seconds=0.05, precision="fp32")
    candidates = [Candidate("residual", 4), Candidate("residual", 8)]
    rates = measure(hp, data, data, torch.device("cpu"), candidates)
    assert set(rates) == set(candidates) and all(rate > 0 for rate in rates.values())
    assert steps.count(4) >= recipe.WARMUP_STEPS + 1 and steps.count(8) >= recipe.WARMUP_STEPS + 1


class FakeSteps:
    """A step function on a fake clock: step i takes `times[i]` seconds (the last time repeats)."""

    def __init__(self, times, batch=10):
        self.now, self.times, self.batch, self.calls = 0.0, list(times), batch, 0

    def clock(self):
        return self.now

    def step(self, i):
        assert i == self.calls
        self.now += self.times[min(i, len(self.times) - 1)]
        self.calls += 1
        return self.batch


def test_the_probe_discards_warm_up_steps_and_times_only_the_steady_state():
    # Allocator growth, oneDNN primitive creation, first batch: 5 s, 3 s, 2 s, then a steady 1 s per step.
    fake = FakeSteps([5.0, 3.0, 2.0, 1.0])
    rate = recipe.probe_samples_per_s(fake.step, seconds=4.0, clock=fake.clock)
    assert rate == pytest.approx(10.0)  # 10 samples per steady 1 s step; timing from step 0 would read ~4.3
    assert fake.calls >= 5 + 4  # 5 warm-up steps (until two agree), then about `seconds` of timed steps


def test_the_probe_warm_up_is_bounded_and_a_hiccup_does_not_set_the_pace():
    never_steady = FakeSteps([2.0**-i for i in range(recipe.MAX_WARMUP_STEPS)] + [1.0])  # each step half the last
    recipe.probe_samples_per_s(never_steady.step, seconds=3.0, clock=never_steady.clock)
    assert never_steady.calls == recipe.MAX_WARMUP_STEPS + recipe.MIN_TIMED_STEPS
    slow = FakeSteps([4.0**i for i in range(10)])  # slower and slower: the warm-up's time cap ends it
    recipe.probe_samples_per_s(slow.step, seconds=2.0, clock=slow.clock)
    assert slow.calls == 3 + recipe.MIN_TIMED_STEPS  # 1 + 4 + 16 s >= 3 x 2 s after the third step
    hiccup = FakeSteps([1.0, 1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0])
    assert recipe.probe_samples_per_s(hiccup.step, seconds=6.0, clock=hiccup.clock) == pytest.approx(10.0)


def test_a_steady_machine_needs_only_the_minimum_warm_up():
    fake = FakeSteps([1.0])
    rate = recipe.probe_samples_per_s(fake.step, seconds=3.0, clock=fake.clock)
    assert rate == pytest.approx(10.0) and fake.calls == recipe.WARMUP_STEPS + 3


FAMILIES = Frontier(
    (
        FrontierPoint(width=16, epochs=10, train_samples=1000, accuracy=0.70),
        FrontierPoint(width=16, epochs=20, train_samples=2000, accuracy=0.76),
        FrontierPoint(width=32, epochs=10, train_samples=1000, accuracy=0.74, family="airbench"),
    )
)
RES16, AIR32 = Candidate("residual", 16), Candidate("airbench", 32)


def test_the_recipe_chooses_across_families_by_predicted_accuracy():
    # Equal speed: airbench's 0.74 at 10 epochs beats the residual's 0.70.
    even = pick({RES16: 10.0, AIR32: 10.0}, table=FAMILIES)
    assert (even.family, even.width, even.epochs) == ("airbench", 32, 9)
    assert even.predicted["airbench-w32"]["between"] == ["airbench-w32x10ep:0.7400"]
    # Residual four times as fast: 38 epochs' predicted 0.76+ beats airbench's 0.74 at 9.
    fast = pick({RES16: 40.0, AIR32: 10.0}, table=FAMILIES)
    assert (fast.family, fast.width) == ("residual", 16)
    assert "recipe family=residual width=16" in fast.line()


def test_a_near_tie_across_families_goes_to_the_faster_candidate():
    tied = Frontier(
        (
            FrontierPoint(width=16, epochs=1, train_samples=100, accuracy=0.701, family="airbench"),
            FrontierPoint(width=24, epochs=1, train_samples=100, accuracy=0.700),
        )
    )
    choice = pick({Candidate("airbench", 16): 5.0, Candidate("residual", 24): 6.0}, table=tied)
    assert choice.candidate == Candidate("residual", 24)


def test_a_given_family_or_width_limits_what_is_probed():
    assert recipe.candidates_to_probe(FAMILIES, 0) == [RES16, AIR32]
    assert recipe.candidates_to_probe(FAMILIES, 0, "airbench") == [AIR32]
    assert recipe.candidates_to_probe(FAMILIES, 16) == [RES16]
    assert recipe.candidates_to_probe(FAMILIES, 48, "airbench") == [Candidate("airbench", 48)]  # outside the table
    outside = pick({Candidate("airbench", 48): 10.0}, width=48, family="airbench", table=FAMILIES)
    assert (outside.family, outside.width, outside.predicted) == ("airbench", 48, {})
    assert outside.given == {"family": "airbench", "width": 48}
    default = recipe.default_choice(0, 0, "airbench")
    assert (default.family, default.width, default.epochs) == ("airbench", 24, 18)
    assert default.given == {"family": "airbench"}


def test_a_checkpoint_record_from_before_families_is_the_residual_family():
    old = {"width": 24, "epochs": 18, "chosen_by": "budget", "samples_per_s": {"24": 700.0}}
    resumed = recipe.RecipeChoice.from_record(old)
    assert (resumed.family, resumed.width, resumed.resumed) == ("residual", 24, True)
