"""The CNN's family, width and epochs, chosen from the time budget and the throughput measured here.

A frontier table (package data, `models/cnn_frontier.json`) holds measured held-out accuracy against
training samples (epochs x training images) per candidate: a network family (`residual`, `airbench`)
at a width. The job measures samples/s for each candidate with a few real training steps, works out
how many samples the rest of its budget affords at that rate, and picks the candidate whose predicted
accuracy at those samples is best (the faster one, cheaper to serve, when two are within `TIE`).
A family, width or epochs given explicitly win.
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from training.errors import ConfigError
from training.hyperparameters import DEFAULT_CNN_FAMILY as DEFAULT_FAMILY
from training.hyperparameters import Hyperparameters, with_family

FRONTIER_FILE = "cnn_frontier.json"
# Epochs are clamped to this: far beyond any point of the frontier, so a tiny train set on a large
# budget cannot plan a run of thousands of epochs that the prediction knows nothing about.
MAX_EPOCHS = 200
# What an auto width/epochs falls back to without a time budget: the recipe tuned for two CPU cores
# and 600 s (benchmarks/results/train-history.md, "Levers tried for the CNN").
DEFAULT_WIDTH, DEFAULT_EPOCHS = 24, 18
# Beyond the table's last point of a candidate, accuracy gains per doubling of the samples fall by this
# factor per doubling. Fitted on the candidates measured at three sample counts (2026-12-07): between
# their two segments the slope per doubling fell to 0.33 over 1.64 doublings (residual w24: 4, 16, 39
# epochs) and to 0.31 over 1.59 (residual w32: 3, 10, 27), 0.51 and 0.48 per doubling. Predicting each
# third point from the first two gives 0.9070 (measured 0.9070) and 0.9169 (measured 0.9150); the
# rule before (each doubling past the last point gains half the one before, starting from the whole
# segment's slope) gave 0.9247 and 0.9399 (tests/unit/training/test_recipe.py).
SLOPE_DECAY_PER_DOUBLING = 0.5
TIE = 0.002  # predicted accuracies this close count as equal: the narrower width wins
SAFETY_FRACTION = 0.03  # of the seconds left, kept back for what the estimate misses
VALIDATION_SPEEDUP = 3.0  # forward-only validation runs at about this many times the training samples/s
# The probe's warm-up (probe_samples_per_s): at least WARMUP_STEPS untimed steps, more until two
# consecutive steps' times agree within STEADY_TOLERANCE, at most MAX_WARMUP_STEPS.
WARMUP_STEPS = 2
MAX_WARMUP_STEPS = 12
STEADY_TOLERANCE = 0.1
MIN_TIMED_STEPS = 3
WARMUP_SECONDS_FACTOR = 3.0  # warm-up stops after this many times `probe_seconds` even if not steady
HICCUP_FACTOR = 2.0  # a timed step over this many times the median is a hiccup, not the pace
# Probing stops starting new candidates once it has used this share of the budget (narrowest first), so
# a short budget on a slow machine is not spent measuring; the ones left out are not chosen.
PROBE_BUDGET_FRACTION = 0.1
K = TypeVar("K")  # what `probe_widths` measures: a `Candidate`


@dataclass(frozen=True, order=True)
class Candidate:
    """A network the recipe can choose: a family (training.hyperparameters.CNN_FAMILIES) at a width."""

    family: str
    width: int

    @property
    def key(self) -> str:
        """How the choice's records (evaluation.json, checkpoints) name it: `airbench-w32`."""
        return f"{self.family}-w{self.width}"


@dataclass(frozen=True)
class FrontierPoint:
    width: int
    epochs: int
    train_samples: int
    accuracy: float
    seeds: int = 1  # runs averaged into `accuracy`
    data: str = ""
    device: str = ""
    measured: str = ""
    family: str = DEFAULT_FAMILY

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.family, self.width)


@dataclass(frozen=True)
class Prediction:
    accuracy: float
    kind: str  # "measured" | "interpolated" | "extrapolated"
    between: tuple[FrontierPoint, ...]  # the frontier points the prediction lay between (or beyond)


@dataclass(frozen=True)
class Frontier:
    points: tuple[FrontierPoint, ...]
    header: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Frontier:
        """The table at `path`, else the package's own; a malformed table is an error naming the file."""
        source = path or resources.files("training.models").joinpath(FRONTIER_FILE)
        try:
            data = json.loads(source.read_text())
            points = tuple(FrontierPoint(**point) for point in data["points"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"frontier table {source} is unreadable: {error}") from error
        bad = [p for p in points if p.width < 1 or p.train_samples < 1 or not 0.0 <= p.accuracy <= 1.0]
        if not points or bad:
            raise ConfigError(f"frontier table {source}: no points, or points out of range: {bad}")
        return cls(points, data.get("header", {}))

    def candidates(self) -> list[Candidate]:
        return sorted({p.candidate for p in self.points})

    def _curve(self, candidate: Candidate) -> list[tuple[float, float, FrontierPoint]]:
        """(log2 samples, accuracy, a point) per distinct sample count of `candidate`, seeds averaged."""
        groups: dict[int, list[FrontierPoint]] = defaultdict(list)
        for point in self.points:
            if point.candidate == candidate:
                groups[point.train_samples].append(point)
        if not groups:
            known = ", ".join(c.key for c in self.candidates())
            raise ConfigError(
                f"{candidate.family} width {candidate.width} is not in the frontier table (candidates: {known})"
            )
        return [
            (math.log2(samples), sum(p.accuracy for p in group) / len(group), group[0])
            for samples, group in sorted(groups.items())
        ]

    def predict(self, width: int, samples: float, family: str = DEFAULT_FAMILY) -> Prediction:
        """Accuracy at `samples` training samples: linear in log2(samples) between measured points;
        beyond the largest, the gain of a slope that halves with each doubling (SLOPE_DECAY_PER_DOUBLING),
        counted from the middle of the last segment, where its slope is the segment's; below the smallest, the
        first segment's slope; one point: flat."""
        curve = self._curve(Candidate(family, width))
        x = math.log2(max(samples, 1.0))
        for x0, a0, p0 in curve:
            if abs(x - x0) < 1e-9:
                return Prediction(a0, "measured", (p0,))
        if len(curve) == 1:
            x0, a0, p0 = curve[0]
            # Flat beyond the one point; below it, the other candidates' mean first-segment slope
            # (flat there would rate a width measured once at many samples as good at few).
            slope = self._mean_first_slope() if x < x0 else 0.0
            return Prediction(_clip(a0 + slope * (x - x0)), "extrapolated", (p0,))
        if x < curve[0][0]:
            (x0, a0, p0), (x1, a1, p1) = curve[0], curve[1]
            accuracy = a0 + (a1 - a0) / (x1 - x0) * (x - x0)
            return Prediction(_clip(accuracy), "extrapolated", (p0, p1))
        for (x0, a0, p0), (x1, a1, p1) in zip(curve, curve[1:], strict=False):
            if x0 < x < x1:
                return Prediction(a0 + (a1 - a0) * (x - x0) / (x1 - x0), "interpolated", (p0, p1))
        (x0, a0, p0), (x1, a1, p1) = curve[-2], curve[-1]
        slope = max(0.0, (a1 - a0) / (x1 - x0))  # a noisy falling last segment predicts no gain, not a loss
        decay = SLOPE_DECAY_PER_DOUBLING
        at_last_point = slope * decay ** ((x1 - x0) / 2)
        # The integral of at_last_point * decay**t over the doublings beyond the last point (bounded).
        gain = at_last_point * (1.0 - decay ** (x - x1)) / math.log(1.0 / decay)
        return Prediction(_clip(a1 + gain), "extrapolated", (p0, p1))

    def _mean_first_slope(self) -> float:
        slopes = []
        for candidate in self.candidates():
            curve = self._curve(candidate)
            if len(curve) > 1:
                (x0, a0, _), (x1, a1, _) = curve[0], curve[1]
                slopes.append(max(0.0, (a1 - a0) / (x1 - x0)))
        return sum(slopes) / len(slopes) if slopes else 0.0


def _clip(accuracy: float) -> float:
    return min(1.0, max(0.0, accuracy))


@dataclass
class RecipeChoice:
    """What the job trains and why; recorded in every checkpoint so a restarted job keeps it."""

    width: int
    epochs: int
    chosen_by: str  # "budget" | "hyperparameters" | "default"
    reason: str = ""
    given: dict[str, Any] = field(default_factory=dict)  # family/width/epochs given explicitly
    samples_per_s: dict[str, float] = field(default_factory=dict)  # per probed candidate (`Candidate.key`)
    affordable_samples: dict[str, int] = field(default_factory=dict)  # per probed candidate
    predicted: dict[str, dict[str, Any]] = field(default_factory=dict)  # per candidate: accuracy, kind, between
    budget_s: float = 0.0
    spent_before_choice_s: float = 0.0
    train_samples_per_epoch: int = 0
    resumed: bool = False
    # Last, with a default: a checkpoint written before families existed recorded none (residual).
    family: str = DEFAULT_FAMILY

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.family, self.width)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RecipeChoice:
        """A checkpoint's record, as the choice of a resumed job."""
        try:
            return cls(**{**record, "resumed": True})
        except TypeError as error:
            raise ConfigError(f"checkpoint's recipe record is malformed: {error}") from error

    def line(self) -> str:
        """One log line: what was chosen and why."""
        rates = " ".join(f"{key}={s:.0f}/s" for key, s in self.samples_per_s.items())
        chosen = self.predicted.get(self.candidate.key, {})
        point = (
            f" predicted={chosen['accuracy']:.4f} ({chosen['kind']}, frontier {chosen['between']})" if chosen else ""
        )
        return (
            f"recipe family={self.family} width={self.width} epochs={self.epochs} chosen_by={self.chosen_by}"
            f"{' resumed=true' if self.resumed else ''} budget_s={self.budget_s:g} "
            f"spent_s={self.spent_before_choice_s:.1f}{' samples_per_s: ' + rates if rates else ''}{point}"
            f"{' (' + self.reason + ')' if self.reason else ''}"
        )


def trainable_seconds(budget_s: float, spent_s: float) -> float:
    """Budget seconds left for training and validation, less the safety margin."""
    return max(0.0, (budget_s - spent_s) * (1.0 - SAFETY_FRACTION))


def affordable_samples(samples_per_s: float, seconds: float, n_train: int, n_val: int) -> int:
    """Training samples that `seconds` afford when each epoch of `n_train` also validates `n_val`
    images at `VALIDATION_SPEEDUP` times the training rate."""
    per_epoch_cost = n_train + n_val / VALIDATION_SPEEDUP  # in training-sample equivalents
    return int(samples_per_s * seconds * n_train / per_epoch_cost)


def epochs_for(samples: int, n_train: int) -> int:
    return min(MAX_EPOCHS, max(1, samples // max(n_train, 1)))


def _describe(prediction: Prediction) -> dict[str, Any]:
    return {
        "accuracy": round(prediction.accuracy, 4),
        "kind": prediction.kind,
        "between": [f"{p.candidate.key}x{p.epochs}ep:{p.accuracy:.4f}" for p in prediction.between],
    }


def with_default_recipe(hp: Hyperparameters) -> Hyperparameters:
    """`hp` with an auto family/width/epochs replaced by the default recipe: what a job without a time
    budget trains (benchmarks that build the default network use it)."""
    family = DEFAULT_FAMILY if hp.family == "auto" else hp.family
    return replace(with_family(hp, family), width=hp.width or DEFAULT_WIDTH, epochs=hp.epochs or DEFAULT_EPOCHS)


def _given(family: str, width: int, epochs: int) -> dict[str, Any]:
    named = (("family", family != "auto", family), ("width", width > 0, width), ("epochs", epochs > 0, epochs))
    return {key: value for key, is_given, value in named if is_given}


def default_choice(width: int, epochs: int, family: str = "auto") -> RecipeChoice:
    """No time budget: the auto values take the default recipe, nothing is measured."""
    given = _given(family, width, epochs)
    chosen_family = DEFAULT_FAMILY if family == "auto" else family
    if width > 0 and epochs > 0:
        return RecipeChoice(width, epochs, "hyperparameters", "width and epochs given", given, family=chosen_family)
    return RecipeChoice(
        width or DEFAULT_WIDTH,
        epochs or DEFAULT_EPOCHS,
        "default",
        "default recipe (no time_budget_s)",
        given,
        family=chosen_family,
    )


def choose(
    frontier: Frontier,
    *,
    width: int,
    epochs: int,
    samples_per_s: Mapping[Candidate, float],
    budget_s: float,
    spent_s: float,
    n_train: int,
    n_val: int,
    family: str = "auto",
) -> RecipeChoice:
    """Family, width and epochs from measured `samples_per_s` per candidate (0 or "auto": choose).

    Only candidates of a given family or width are measured (`candidates_to_probe`). Among
    predictions within `TIE` of the best, the fastest candidate wins: the cheapest to serve."""
    seconds = trainable_seconds(budget_s, spent_s)
    affordable = {c: affordable_samples(s, seconds, n_train, n_val) for c, s in samples_per_s.items()}
    planned = {c: (epochs if epochs > 0 else epochs_for(a, n_train)) * n_train for c, a in affordable.items()}
    known = set(frontier.candidates())  # a width given explicitly may lie outside the table: no prediction
    predictions = {c: frontier.predict(c.width, planned[c], c.family) for c in planned if c in known}

    def fastest(pool: Iterable[Candidate]) -> Candidate:
        return min(pool, key=lambda c: (-samples_per_s[c], c.width, c.family))

    if not predictions:  # nothing measured is in the table: a width given outside it
        chosen, reason = fastest(samples_per_s), "given; not in the frontier table"
    else:
        candidates = list(predictions)
        if epochs > 0:
            covering = [c for c in candidates if affordable[c] >= planned[c]]
            candidates = covering or [fastest(candidates)]
            reason = "epochs given; best predicted candidate whose affordable samples cover them"
            if not covering:
                reason = "epochs given; no candidate affords them: the fastest"
        else:
            reason = "best predicted accuracy at the affordable samples"
        best = max(predictions[c].accuracy for c in candidates)
        chosen = fastest(c for c in candidates if predictions[c].accuracy >= best - TIE)
        if width > 0 or family != "auto":
            reason = f"{', '.join(sorted(_given(family, width, 0)))} given; {reason}"
    return RecipeChoice(
        width=chosen.width,
        epochs=epochs if epochs > 0 else epochs_for(affordable[chosen], n_train),
        chosen_by="budget",
        reason=reason,
        given=_given(family, width, epochs),
        samples_per_s={c.key: round(s, 1) for c, s in sorted(samples_per_s.items())},
        affordable_samples={c.key: a for c, a in sorted(affordable.items())},
        predicted={c.key: _describe(p) for c, p in sorted(predictions.items())},
        budget_s=budget_s,
        spent_before_choice_s=round(spent_s, 2),
        train_samples_per_epoch=n_train,
        family=chosen.family,
    )


def warmed_up(step_seconds: Sequence[float]) -> bool:
    """Whether warm-up is over: at least `WARMUP_STEPS` steps, the last two of which took times that
    agree within `STEADY_TOLERANCE` (a step still paying for warm-up is slower than the next)."""
    if len(step_seconds) < max(2, WARMUP_STEPS):
        return False
    previous, last = step_seconds[-2], step_seconds[-1]
    return abs(last - previous) <= STEADY_TOLERANCE * previous


def steady_rate(samples: Sequence[int], step_seconds: Sequence[float]) -> float:
    """Samples/s over timed steps, leaving out hiccups (a step over `HICCUP_FACTOR` times the median:
    a garbage collection, another process taking the core) that the median-paced loop averages away."""
    median = statistics.median(step_seconds)
    kept = [(n, t) for n, t in zip(samples, step_seconds, strict=True) if t <= HICCUP_FACTOR * median]
    return sum(n for n, _ in kept) / max(sum(t for _, t in kept), 1e-12)


def probe_samples_per_s(
    step: Callable[[int], int],
    seconds: float,
    synchronize: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Steady-state samples/s of `step(i)` (one training step on batch i, returning its sample count).

    Warm-up steps are run and not timed: the first steps of a fresh model pay for the allocator's
    growth, oneDNN's primitive creation and first-batch effects, and timing them read 732 samples/s
    for a loop that then ran at 848 (a 1,800 s job left 250 s unused). Warm-up lasts until two
    consecutive steps agree within `STEADY_TOLERANCE` (at least `WARMUP_STEPS`, at most
    `MAX_WARMUP_STEPS` or `WARMUP_SECONDS_FACTOR` x `seconds`); then each step is timed alone for
    about `seconds` (at least `MIN_TIMED_STEPS`). `synchronize` waits for queued device work before a
    clock is read (CUDA runs asynchronously); `clock` is injectable for tests."""
    warmup: list[float] = []
    warm_started = clock()
    index = 0
    while True:
        started = clock()
        step(index)
        synchronize()
        warmup.append(clock() - started)
        index += 1
        if warmed_up(warmup):
            break
        too_long = clock() - warm_started >= WARMUP_SECONDS_FACTOR * seconds
        if len(warmup) >= MAX_WARMUP_STEPS or (len(warmup) >= WARMUP_STEPS and too_long):
            break
    samples: list[int] = []
    times: list[float] = []
    timed_started = clock()
    while True:
        started = clock()
        samples.append(step(index))
        synchronize()
        times.append(clock() - started)
        index += 1
        if len(times) >= MIN_TIMED_STEPS and clock() - timed_started >= seconds:
            break
    return steady_rate(samples, times)


def probe_widths(
    candidates: Iterable[K],
    make_step: Callable[[K], tuple[Callable[[int], int], Callable[[], None]]],
    seconds: float,
    synchronize: Callable[[], None] = lambda: None,
    total_s: float = math.inf,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[K, float]:
    """Measure each candidate with a throwaway model; `make_step(candidate)` gives (step, release), and
    `release` frees the model before the next one is built. No candidate is started once `total_s`
    have gone (the first always is)."""
    rates: dict[K, float] = {}
    started = clock()
    for candidate in candidates:
        if rates and clock() - started >= total_s:
            break
        step, release = make_step(candidate)
        try:
            rates[candidate] = probe_samples_per_s(step, seconds, synchronize, clock)
        finally:
            release()
            gc.collect()
    return rates


def candidates_to_probe(frontier: Frontier, width: int, family: str = "auto") -> list[Candidate]:
    """What to probe, fastest first (narrowest of each family): the table's candidates of the given
    family and width; a width given outside the table is probed alone, in the given family (or the
    default one)."""
    pool = [
        c
        for c in frontier.candidates()
        if (family == "auto" or c.family == family) and (width <= 0 or c.width == width)
    ]
    if not pool and width > 0:
        pool = [Candidate(DEFAULT_FAMILY if family == "auto" else family, width)]
    return sorted(pool, key=lambda c: (c.width, c.family))
