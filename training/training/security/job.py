"""The training job's security evaluation: a fixed sample, a time budget, one dict for evaluation.json.

Order: load the served program as an ART estimator; membership inference (predictions only, cheap);
clean accuracy on the attack sample; time one gradient batch and size the attack sample so that the
whole evaluation fits `security_budget_s`; the attacks; the figure. The same seed draws the same items
on every run. A failure here does not fail the job (the gate refuses a model without figures).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.data.folders import Dataset
from training.reporting import emit
from training.security import privacy, robustness
from training.security.budgets import Budget, parse_eps, parse_snr
from training.security.corruptions import IMAGE_CORRUPTIONS
from training.security.estimators import predict
from training.security.report import FIGURE, plot_robustness

log = logging.getLogger(__name__)
MIN_ATTACK_ITEMS = 8  # fewer than this says nothing: the attacks are skipped, and the reason recorded
RESERVE_S = 1.5  # the figure and the write-up after the attacks
TOOLBOX = "adversarial-robustness-toolbox"


@dataclass(frozen=True)
class SecurityPlan:
    model: str
    samples: int
    budget_s: float
    pgd_steps: int
    seed: int
    eps: tuple[Budget, ...] = ()  # CNN
    snr: tuple[Budget, ...] = ()  # MLP
    severity: int = 3

    @classmethod
    def from_hyperparameters(cls, hp: Any) -> SecurityPlan:
        return cls(
            model=hp.model,
            samples=hp.security_samples,
            budget_s=hp.security_budget_s,
            pgd_steps=hp.security_pgd_steps,
            seed=hp.seed,
            eps=parse_eps("security_eps", hp.security_eps) if hp.model == "cnn" else (),
            snr=parse_snr("security_snr_db", hp.security_snr_db) if hp.model == "mlp" else (),
            severity=hp.security_severity,
        )

    def gradients_per_item(self) -> int:
        if self.model == "cnn":  # FGSM (1) and PGD per epsilon, the largest with twice the steps
            return len(self.eps) + self.pgd_steps * (len(self.eps) + 1)
        return self.pgd_steps * len(self.snr)

    def predictions_per_item(self) -> int:
        if self.model == "cnn":
            return 2 * len(self.eps) + len(IMAGE_CORRUPTIONS)
        return 2 * len(self.snr)


def _unit(model: str, inputs: np.ndarray) -> np.ndarray:
    """What a client sends: [0, 1] float pixels (the datasets hold uint8), or float waveforms."""
    if model == "cnn" and inputs.dtype == np.uint8:
        return inputs.astype(np.float32) / 255.0
    return inputs.astype(np.float32)


def _sample(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    return np.sort(rng.choice(size, size=min(count, size), replace=False))


def _estimator(plan: SecurityPlan, artifact_path: Path, num_classes: int, example: np.ndarray) -> Any:
    from training.security import estimators

    if plan.model == "cnn":
        return estimators.cnn_classifier(artifact_path, num_classes, int(example.shape[-1]))
    return estimators.mlp_classifier(artifact_path, num_classes, tuple(example.shape[1:]))


def measure_security(
    plan: SecurityPlan,
    artifact_path: Path,
    train: Dataset,
    held_out: Dataset,
    split: str,
    output_data_dir: Path,
) -> dict[str, Any]:
    """`evaluation.json["security"]` (docs/contracts.md); writes the figure into `output_data_dir`."""
    started = time.monotonic()
    rng = np.random.default_rng(plan.seed)
    num_classes = len(train.class_names)
    waveform = plan.model == "mlp" and held_out.inputs.ndim == 2
    classifier = _estimator(plan, artifact_path, num_classes, held_out.inputs)
    from importlib.metadata import version

    result: dict[str, Any] = {
        "toolbox": f"{TOOLBOX} {version(TOOLBOX)}",
        "samples_requested": plan.samples,
        "budget_s": plan.budget_s,
        "seed": plan.seed,
    }

    # Privacy: members from the artifact's training set, as many non-members from the held-out split.
    count = min(plan.samples, len(train), len(held_out))
    members, non_members = _sample(rng, len(train), count), _sample(rng, len(held_out), count)
    member_x, member_y = _unit(plan.model, train.inputs[members]), train.labels[members]
    non_member_x, non_member_y = _unit(plan.model, held_out.inputs[non_members]), held_out.labels[non_members]
    member_p, non_member_p = predict(classifier, member_x), predict(classifier, non_member_x)
    loss = privacy.loss_threshold(member_p, member_y, non_member_p, non_member_y)
    black = privacy.black_box(classifier, member_p, member_y, non_member_p, non_member_y, plan.seed)
    result["privacy"] = {
        "members": count,
        "non_members": count,
        "members_from": "train (the artifact's training set)",
        "non_members_from": split,
        "member_accuracy": robustness.accuracy(member_p, member_y),
        "non_member_accuracy": robustness.accuracy(non_member_p, non_member_y),
        "loss_threshold": loss,
        "black_box": black,
        "auc": max(loss["auc"], black["auc"]),
        "advantage": max(loss["advantage"], black["advantage"]),
    }

    # Robustness: the attack sample, sized by the measured cost of one gradient and one prediction.
    attack_items = _sample(rng, len(held_out), plan.samples)
    x, y = _unit(plan.model, held_out.inputs[attack_items]), held_out.labels[attack_items]
    timer = time.monotonic()
    clean = predict(classifier, x)
    per_prediction = (time.monotonic() - timer) / max(len(x), 1)
    robust: dict[str, Any] = {"clean_accuracy": robustness.accuracy(clean, y)}
    result["robustness"] = robust
    if plan.model == "mlp" and not waveform:
        robust["skipped"] = "a features-only model: no waveform to attack"
        return _finish(result, plan, started, output_data_dir)
    probe = x[: min(32, len(x))]
    onehot = np.eye(num_classes, dtype=np.float32)[y[: len(probe)]]
    classifier.loss_gradient(probe[:2], onehot[:2])  # warm-up (graph tracing, allocations)
    timer = time.monotonic()
    classifier.loss_gradient(probe, onehot)
    per_gradient = (time.monotonic() - timer) / max(len(probe), 1)
    per_item = plan.gradients_per_item() * per_gradient + plan.predictions_per_item() * per_prediction
    per_corrupted_item = 0.0
    if plan.model == "cnn":
        timer = time.monotonic()
        robustness.image_corruptions(classifier, x[:4], y[:4], plan.severity, plan.seed)
        per_corrupted_item = (time.monotonic() - timer) / 4
        per_item += per_corrupted_item
    left = plan.budget_s - (time.monotonic() - started) - RESERVE_S
    affordable = max(0, math.floor(left / per_item)) if per_item > 0 else len(x)
    n = min(len(x), affordable)
    robust.update(
        samples=n,
        seconds_per_item_planned=round(per_item, 4),
        sampled_from=split,
    )
    if n < min(MIN_ATTACK_ITEMS, len(x)):
        robust["skipped"] = (
            f"security_budget_s={plan.budget_s:g} affords {n} items at {per_item:.3f} s each "
            f"(at least {MIN_ATTACK_ITEMS} needed); raise security_budget_s"
        )
        return _finish(result, plan, started, output_data_dir)
    x, y = x[:n], y[:n]
    robust["clean_accuracy"] = robustness.accuracy(clean[:n], y)
    long_steps = 2 * plan.pgd_steps
    # The plan's estimate may be off on a busy machine: each attack runs only if it still fits.
    deadline = started + plan.budget_s - RESERVE_S - n * per_corrupted_item
    clock = robustness.Clock(deadline=deadline, seconds_per_step_item=per_gradient)
    if plan.model == "cnn":
        robust["budget"] = "linf_eps"
        robust["budget_values"] = {b.label: b.value for b in plan.eps}
        robust["pgd_steps"] = robustness.pgd_steps(plan.eps, plan.pgd_steps, long_steps)
        robust["accuracy"] = robustness.image_attacks(
            classifier, x, y, plan.eps, plan.pgd_steps, long_steps, clock=clock
        )
        if time.monotonic() + n * per_corrupted_item <= started + plan.budget_s - RESERVE_S:
            robust["corruptions"] = robustness.image_corruptions(classifier, x, y, plan.severity, plan.seed)
        else:
            clock.not_measured.append("corruptions")
    else:
        robust["budget"] = "snr_db"
        robust["budget_values"] = {b.label: b.value for b in plan.snr}
        robust["pgd_steps"] = {b.label: plan.pgd_steps for b in plan.snr}
        attacks = robustness.waveform_attacks(classifier, x, y, plan.snr, plan.pgd_steps, plan.seed, clock=clock)
        robust["measured_snr_db"] = attacks.pop("measured_snr_db")
        robust["accuracy"] = attacks
    if clock.not_measured:
        robust["not_measured"] = clock.not_measured  # over budget: the plan's estimate was low
    plot_robustness(plan.model, {**robust, "samples": n}, output_data_dir / FIGURE)
    result["figure"] = FIGURE
    return _finish(result, plan, started, output_data_dir)


def _finish(result: dict[str, Any], plan: SecurityPlan, started: float, output_data_dir: Path) -> dict[str, Any]:
    result["elapsed_s"] = round(time.monotonic() - started, 2)
    robust, priv = result["robustness"], result["privacy"]
    worst = ""
    if robust.get("accuracy", {}).get("pgd"):
        label, value = list(robust["accuracy"]["pgd"].items())[-1]
        worst = f" pgd@{label}={value:.4f}"
    emit(
        f"security clean_accuracy={robust['clean_accuracy']:.4f}{worst} membership_auc={priv['auc']:.4f} "
        f"elapsed_s={result['elapsed_s']:.1f}"
    )
    return result


def measure_or_report_error(plan: SecurityPlan, *args: Any) -> dict[str, Any]:
    """As `measure_security`, with any failure but a full disk or memory written as `{"error": ...}`."""
    try:
        return measure_security(plan, *args)
    except (OSError, MemoryError):
        raise
    except Exception as error:  # a report, not the product: the artifact stands, the gate will refuse it
        log.warning("security evaluation failed: %s", error, exc_info=True)
        return {"error": f"{type(error).__name__}: {error}"}
