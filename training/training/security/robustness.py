"""Accuracy under attack, with ART's evasion attacks on an estimator over the served program.

CNN: FGSM and PGD under an L-infinity budget in the [0, 1] pixel range (untargeted, no random start,
step 2.5 * eps / steps as in Madry et al.); the largest epsilon gets `long_steps` PGD steps.
MLP: PGD in waveform amplitude under an L2 budget set per clip by the SNR of the perturbation,
||delta||_2 = ||x||_2 * 10^(-SNR/20) (ART takes a per-sample epsilon of shape (n, 1)), so each clip's
perturbation is at most as loud as the SNR says.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.security.budgets import Budget
from training.security.corruptions import IMAGE_CORRUPTIONS, corrupt_images, noise_at_snr, snr_db
from training.security.estimators import predict

STEP_RATIO = 2.5  # PGD step = STEP_RATIO * eps / steps


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels)) if len(labels) else float("nan")


def pgd_steps(budgets: Sequence[Budget], steps: int, long_steps: int) -> dict[str, int]:
    """`steps` for every budget, `long_steps` for the largest (the last, as budgets are sorted)."""
    return {b.label: (long_steps if i == len(budgets) - 1 else steps) for i, b in enumerate(budgets)}


@dataclass
class Clock:
    """The time left to the evaluation, and the measured cost of one gradient step on one item: each
    attack is run only if its estimate fits, and the estimate learns from every attack run."""

    deadline: float = math.inf  # time.monotonic() value
    seconds_per_step_item: float = 0.0
    not_measured: list[str] = field(default_factory=list)

    def affords(self, name: str, steps: int, items: int) -> bool:
        if steps * items * self.seconds_per_step_item <= self.deadline - time.monotonic():
            return True
        self.not_measured.append(name)
        return False

    def learn(self, started: float, steps: int, items: int) -> None:
        self.seconds_per_step_item = (time.monotonic() - started) / max(steps * items, 1)


def image_attacks(
    classifier: Any,
    images: np.ndarray,
    labels: np.ndarray,
    budgets: Sequence[Budget],
    steps: int,
    long_steps: int,
    batch_size: int = 128,
    clock: Clock | None = None,
) -> dict[str, dict[str, float]]:
    """{"pgd": {label: accuracy}, "fgsm": {label: accuracy}} on float NCHW images in [0, 1]. PGD first,
    smallest epsilon first: what the gate reads is measured before what a short budget may drop."""
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    clock = clock or Clock()
    results: dict[str, dict[str, float]] = {"pgd": {}, "fgsm": {}}
    per_budget = pgd_steps(budgets, steps, long_steps)
    for budget in budgets:
        n = per_budget[budget.label]
        if not clock.affords(f"pgd@{budget.label}", n + 1, len(images)):
            continue
        started = time.monotonic()
        pgd = ProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=budget.value,
            eps_step=max(STEP_RATIO * budget.value / n, 1e-6),  # ART wants a positive step; eps 0 projects to 0
            max_iter=n,
            num_random_init=0,
            batch_size=batch_size,
            verbose=False,
        )
        adversarial = pgd.generate(images, y=labels)
        results["pgd"][budget.label] = accuracy(predict(classifier, adversarial), labels)
        clock.learn(started, n + 1, len(images))
    for budget in budgets:
        if not clock.affords(f"fgsm@{budget.label}", 2, len(images)):
            continue
        fgsm = FastGradientMethod(classifier, norm=np.inf, eps=budget.value, batch_size=batch_size)
        adversarial = fgsm.generate(images, y=labels)
        results["fgsm"][budget.label] = accuracy(predict(classifier, adversarial), labels)
    return results


def image_corruptions(
    classifier: Any, images: np.ndarray, labels: np.ndarray, severity: int, seed: int = 0
) -> dict[str, Any]:
    scores = {
        name: accuracy(predict(classifier, corrupt_images(images, name, severity, seed)), labels)
        for name in IMAGE_CORRUPTIONS
    }
    return {"severity": severity, "accuracy": scores, "mean_accuracy": float(np.mean(list(scores.values())))}


def waveform_attacks(
    classifier: Any,
    waveforms: np.ndarray,
    labels: np.ndarray,
    budgets: Sequence[Budget],
    steps: int,
    seed: int = 0,
    batch_size: int = 64,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """{"pgd": {"30dB": accuracy}, "noise": {...}, "measured_snr_db": {"pgd": {...}}} on waveforms."""
    from art.attacks.evasion import ProjectedGradientDescent

    clock = clock or Clock()
    norms = np.linalg.norm(waveforms.astype(np.float64), axis=1, keepdims=True)
    results: dict[str, Any] = {"pgd": {}, "noise": {}, "measured_snr_db": {"pgd": {}, "noise": {}}}
    for budget in budgets:
        noisy = noise_at_snr(waveforms, budget.value, seed)
        results["noise"][budget.label] = accuracy(predict(classifier, noisy), labels)
        results["measured_snr_db"]["noise"][budget.label] = _median_snr(waveforms, noisy)
    for budget in budgets:
        if not clock.affords(f"pgd@{budget.label}", steps + 1, len(waveforms)):
            continue
        started = time.monotonic()
        eps = (norms * 10 ** (-budget.value / 20)).astype(np.float32)  # (n, 1): one L2 radius per clip
        pgd = ProjectedGradientDescent(
            classifier,
            norm=2,
            eps=eps,
            eps_step=(STEP_RATIO * eps / steps).astype(np.float32),
            max_iter=steps,
            num_random_init=0,
            batch_size=batch_size,
            verbose=False,
        )
        adversarial = pgd.generate(waveforms, y=labels)
        results["pgd"][budget.label] = accuracy(predict(classifier, adversarial), labels)
        results["measured_snr_db"]["pgd"][budget.label] = _median_snr(waveforms, adversarial)
        clock.learn(started, steps + 1, len(waveforms))
    return results


def _median_snr(clean: np.ndarray, perturbed: np.ndarray) -> float:
    values = snr_db(clean, perturbed)
    return float(np.median(values)) if len(values) else float("nan")
