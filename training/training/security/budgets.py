"""The attack budgets as hyperparameters give them: comma-separated lists, parsed and checked.

CNN: L-infinity epsilons in the [0, 1] pixel range a client sends, each a number or a fraction such
as `2/255` (the label kept in evaluation.json is the text as given). MLP: signal-to-noise ratios in dB
of the perturbation against the clip. Bad values raise ConfigError naming the hyperparameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from training.errors import ConfigError

DEFAULT_EPS = "1/255,2/255,4/255,8/255"
DEFAULT_SNR_DB = "40,30,20"
# The hyperparameters of the evaluation alone (not of adversarial training): they change no weight.
SECURITY_KEYS = (
    "security",
    "security_samples",
    "security_budget_s",
    "security_pgd_steps",
    "security_eps",
    "security_severity",
    "security_snr_db",
)


@dataclass(frozen=True)
class Budget:
    label: str  # as written: "2/255", "30" (shown as "30dB" for SNRs)
    value: float


def _number(key: str, text: str) -> float:
    try:
        value = float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"hyperparameter {key!r}: {text!r} is not a number or a fraction such as 2/255") from None
    if not math.isfinite(value):
        raise ConfigError(f"hyperparameter {key!r}: {text!r} is not finite")
    return value


def parse_eps(key: str, text: str) -> tuple[Budget, ...]:
    """L-infinity budgets in (0, 1], ascending (the largest gets the most PGD steps)."""
    budgets = _parse(key, text)
    for b in budgets:
        if not 0 < b.value <= 1:
            raise ConfigError(f"hyperparameter {key!r}: epsilon {b.label} must be in (0, 1] (the [0, 1] pixel range)")
    return tuple(sorted(budgets, key=lambda b: b.value))


def parse_snr(key: str, text: str) -> tuple[Budget, ...]:
    """Perturbation SNRs in dB in [-20, 120], highest (smallest perturbation) first."""
    budgets = tuple(Budget(f"{b.label}dB", b.value) for b in _parse(key, text))
    for b in budgets:
        if not -20 <= b.value <= 120:
            raise ConfigError(f"hyperparameter {key!r}: SNR {b.label} must be in [-20, 120] dB")
    return tuple(sorted(budgets, key=lambda b: -b.value))


def _parse(key: str, text: str) -> tuple[Budget, ...]:
    labels = [part.strip() for part in text.split(",") if part.strip()]
    if not labels:
        raise ConfigError(f"hyperparameter {key!r} must list at least one value, got {text!r}")
    budgets = tuple(Budget(label, _number(key, label)) for label in labels)
    if len({b.value for b in budgets}) != len(budgets):
        raise ConfigError(f"hyperparameter {key!r} lists a value twice: {text!r}")
    return budgets
