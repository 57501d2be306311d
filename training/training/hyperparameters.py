"""Typed hyperparameters, parsed from the strings SageMaker passes.

One frozen dataclass holds the common settings and each model's own; the defaults are the recipe.
An unknown name or a value of the wrong type stops the job with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from training.errors import ConfigError
from training.security.budgets import DEFAULT_EPS, DEFAULT_SNR_DB, parse_eps, parse_snr

MODELS = ("cnn", "mlp")
PRECISIONS = ("auto", "bf16", "fp32")
# The CNN's network families (training/models/cnn.py `build_classifier`); "auto" lets the budget-aware
# recipe choose one with the width (training/recipe.py).
CNN_FAMILIES = ("residual", "airbench")
DEFAULT_CNN_FAMILY = "residual"  # what "auto" trains without a time budget (the default recipe)
# The string hyperparameters that take one of a few values (checked in Hyperparameters.__post_init__).
CHOICES: dict[str, tuple[str, ...]] = {
    "model": MODELS,
    "precision": PRECISIONS,
    "on_bad_file": ("error", "skip"),
    "family": ("auto", *CNN_FAMILIES),
}
# Each model's recipe where the common settings differ (epochs, batch size, peak learning rate).
# The CNN's epochs (and width) default to 0, "auto": chosen from time_budget_s and the measured
# throughput (training/recipe.py), or the default recipe without a budget.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {"epochs": 0, "batch_size": 256, "learning_rate": 0.2},
    "mlp": {"epochs": 80, "batch_size": 64, "learning_rate": 2e-3},
}
# Each CNN family's training recipe where it differs from the residual one, under any value given
# explicitly. The airbench family's are Keller Jordan's published airbench94 settings (batch 1024,
# Nesterov momentum 0.85, label smoothing 0.2, 23% warm-up; learning rate 11.5 and weight decay 0.0153
# "per 1024 examples" on a summed loss, divided by 1024 * (1 + 1 / (1 - 0.85)) = 7851), restated for
# this trainer's loss, the batch mean: learning rate 11.5 / 7851 * 1024 = 1.5, and weight decay such
# that each step still decays the weights by 0.0153 * 1024 / 7851 = 0.002 at the peak: 0.002 / 1.5.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "residual": {},
    "airbench": {
        "batch_size": 1024,
        "learning_rate": 1.5,
        "momentum": 0.85,
        "weight_decay": 0.00133,
        "label_smoothing": 0.2,
        "warmup_fraction": 0.23,
    },
}
# Keys SageMaker or its SDK add on their own; they are not ours to validate.
_FOREIGN_PREFIXES = ("sagemaker_", "_tuning_", "_sagemaker")


@dataclass(frozen=True)
class Range:
    """Where a numeric hyperparameter may lie; NaN and infinities are never in range."""

    low: float
    high: float
    low_open: bool = False  # the low end itself is excluded
    high_open: bool = False

    def text(self) -> str:
        low, high = (int(v) if float(v).is_integer() else v for v in (self.low, self.high))
        return f"{'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"

    def check(self, key: str, value: float) -> None:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        if not (math.isfinite(value) and above and below):
            raise ConfigError(f"hyperparameter {key!r} must be in {self.text()}, got {value}")


# Every numeric hyperparameter's range, checked before any data is read. The ends are what the code
# can run (probabilities, fractions, ports) or far beyond any sensible recipe (so a typo such as an
# extra zero is caught, not trained on for hours).
RANGES: dict[str, Range] = {
    "epochs": Range(0, 100_000),  # 0 (auto) for the CNN only: checked in __post_init__
    "batch_size": Range(1, 1 << 20),
    "learning_rate": Range(0, 100, low_open=True),
    "seed": Range(0, 2**32 - 1),
    "time_budget_s": Range(0, 28 * 24 * 3600),  # SageMaker's longest training job: 28 days
    "validation_fraction": Range(0, 1, high_open=True),
    "min_steps": Range(0, 10_000_000),
    "processes_per_host": Range(0, 1024),
    "dist_port": Range(1, 65535),
    "image_size": Range(16, 4096),
    "width": Range(0, 4096),
    "probe_seconds": Range(0, 60, low_open=True),
    "label_smoothing": Range(0, 1, high_open=True),
    "weight_decay": Range(0, 1),
    "momentum": Range(0, 1, high_open=True),
    "warmup_fraction": Range(0, 1),
    "lr_start_fraction": Range(0, 1),
    "lr_end_fraction": Range(0, 1),
    "crop_padding": Range(0, 2048),
    "sample_rate": Range(1_000, 192_000),
    "clip_seconds": Range(0, 600, low_open=True),
    "num_mfcc": Range(1, 1024),
    "num_mel_bins": Range(1, 1024),
    "frame_length": Range(2, 1 << 16),
    "frame_step": Range(1, 1 << 16),
    "hidden_units": Range(1, 1 << 16),
    "hidden_layers": Range(1, 256),
    "dropout": Range(0, 1, high_open=True),
    "aligned_frames": Range(0, 100_000),
    "voiced_margin_db": Range(0, 200, low_open=True),
    "speed_perturbation": Range(0, 0.5, high_open=True),
    "noise_snr_db": Range(-100, 200),
    "explain_per_class": Range(0, 10_000),
    "conv_filters": Range(0, 4096),
    "synthetic_ratio": Range(0, 4),
    "edge_cut_ms": Range(0, 500),
    "edge_cut_probability": Range(0, 1),
    "security_samples": Range(1, 100_000),
    "security_budget_s": Range(0, 24 * 3600, low_open=True),
    "security_pgd_steps": Range(1, 1000),
    "security_severity": Range(1, 5),
    "adversarial_fraction": Range(0, 1, high_open=True),
    "adversarial_eps": Range(0, 1, low_open=True),
    "adversarial_steps": Range(1, 100),
}


def _for(*models: str, help: str = "") -> dict[str, Any]:
    return {"models": models, "help": help}


@dataclass(frozen=True)
class Hyperparameters:
    model: str = field(metadata=_for(help="required: which model to train"))
    name: str = field(default="", metadata=_for(help="the model's name in manifest.json; empty: the model kind"))
    epochs: int = field(
        default=10,
        metadata=_for(
            help="passes over the training data; cnn 0: auto, chosen from time_budget_s (18 without a budget); "
            "the mlp needs at least 1"
        ),
    )
    batch_size: int = field(default=256, metadata=_for(help="samples per training step"))
    learning_rate: float = field(default=0.2, metadata=_for(help="peak learning rate of the one-cycle schedule"))
    seed: int = field(default=0, metadata=_for(help="data split, order, augmentation and initialisation"))
    time_budget_s: float = field(
        default=0.0,
        metadata=_for(
            help="stop gracefully, then evaluate and save; the schedule ends when the budget does. 0: no budget"
        ),
    )
    validation_fraction: float = field(
        default=0.1, metadata=_for(help="held out for validation when there is no validation channel")
    )
    checkpoint_dir: str = field(
        default="",
        metadata=_for(help="spot checkpoints; empty: /opt/ml/checkpoints when SageMaker made it, else none"),
    )
    processes_per_host: int = field(
        default=0, metadata=_for(help="data-parallel processes per host; 0: one per GPU, one on a CPU host")
    )
    dist_port: int = field(
        default=29500,
        metadata=_for(help="port of the data-parallel rendezvous (the MLP's worker i listens on dist_port + i)"),
    )
    on_bad_file: str = field(default="error", metadata=_for(help="'error' stops the job, 'skip' skips and counts"))
    explain_per_class: int = field(
        default=16,
        metadata=_for(
            help="held-out items per class explained (integrated gradients) into evaluation.json and PNGs; 0: off"
        ),
    )
    # Security evaluation (training/security; docs/security.md): on the exported serving program
    security: bool = field(
        default=True,
        metadata=_for(help="measure robustness and membership inference into evaluation.json['security']"),
    )
    security_samples: int = field(
        default=256,
        metadata=_for(
            help="held-out items attacked, and members and non-members each for membership inference (fixed seed)"
        ),
    )
    security_budget_s: float = field(
        default=25.0,
        metadata=_for(
            help="seconds the security evaluation may take; fewer items are attacked if the measured cost asks"
        ),
    )
    security_pgd_steps: int = field(
        default=10, metadata=_for(help="PGD steps per budget; the largest epsilon (CNN) gets twice as many")
    )
    min_steps: int = field(
        default=100,
        metadata=_for(
            help="small data: the epochs rise (and the batch shrinks to give an epoch 4 steps) until training "
            "holds at least this many optimizer steps; 0: off (training/step_floor.py; 100: measured, "
            "benchmarks/results/small-data-2026-12-07.md)"
        ),
    )
    refit: bool = field(
        default=True,
        metadata=_for(
            "cnn",
            "mlp",
            help="with a 'test' channel and no 'validation' channel: train the artifact on every sample of the "
            "train channel (MLP: for `epochs`, the count the four-rotation protocol chose; CNN: the recipe's "
            "epochs) instead of holding a share (MLP: speakers) out for validation",
        ),
    )
    # CNN
    security_eps: str = field(
        default=DEFAULT_EPS,
        metadata=_for("cnn", help="L-inf epsilons of FGSM and PGD, in the [0, 1] pixel range a client sends"),
    )
    security_severity: int = field(
        default=3, metadata=_for("cnn", help="common corruptions' severity, 1-5 (CIFAR-10-C's scale)")
    )
    adversarial_fraction: float = field(
        default=0.0,
        metadata=_for(
            "cnn",
            help="adversarial training: the last fraction of the schedule trains on PGD examples of each batch; 0: off",
        ),
    )
    adversarial_eps: float = field(
        default=4 / 255,
        metadata=_for("cnn", help="adversarial training: the PGD examples' L-inf epsilon (of the [0, 1] range)"),
    )
    adversarial_steps: int = field(default=3, metadata=_for("cnn", help="adversarial training: PGD steps per batch"))
    image_size: int = field(default=32, metadata=_for("cnn", help="images are resized to this square, in pixels"))
    width: int = field(
        default=0,
        metadata=_for(
            "cnn",
            help="channels of the stem; the stages have 2x, 4x, 8x. 0: auto, chosen from time_budget_s and "
            "the measured throughput (24 without a budget)",
        ),
    )
    family: str = field(
        default="auto",
        metadata=_for(
            "cnn",
            help="the network: 'residual' (three residual stages), 'airbench' (a frozen whitened first layer, "
            "three plain blocks, weight averaging; its own batch size, learning rate, momentum, weight decay, "
            "label smoothing and warm-up unless given), or 'auto': chosen with the width from time_budget_s "
            "(residual without a budget)",
        ),
    )
    probe_seconds: float = field(
        default=2.0,
        metadata=_for(
            "cnn",
            help="with an auto width or epochs and a time budget: seconds of training steps timed per width "
            "(after 2 warm-up steps)",
        ),
    )
    label_smoothing: float = field(default=0.1, metadata=_for("cnn", "mlp", help="label smoothing of the loss"))
    weight_decay: float = field(default=5e-4, metadata=_for("cnn", "mlp", help="L2 weight decay"))
    momentum: float = field(default=0.9, metadata=_for("cnn", help="Nesterov momentum of SGD"))
    warmup_fraction: float = field(
        default=0.2, metadata=_for("cnn", "mlp", help="share of the schedule spent rising to the peak learning rate")
    )
    lr_start_fraction: float = field(
        default=0.02, metadata=_for("cnn", "mlp", help="the learning rate at step 0, as a fraction of the peak")
    )
    lr_end_fraction: float = field(
        default=0.02, metadata=_for("cnn", "mlp", help="the learning rate at the last step, as a fraction of the peak")
    )
    random_flip: bool = field(
        default=True,
        metadata=_for(
            "cnn", help="random horizontal flips in training; false for mirror-sensitive images (digits, text)"
        ),
    )
    test_time_flip: bool = field(
        default=True,
        metadata=_for("cnn", help="the exported model averages each image with its mirror; false for digits, text"),
    )
    crop_padding: int = field(default=2, metadata=_for("cnn", help="random translation by up to this many pixels"))
    precision: str = field(
        default="auto",
        metadata=_for(
            "cnn",
            help="'bf16' (autocast), 'fp32', or 'auto': bf16 where the CPU (AVX-512 BF16, AMX) or GPU computes it "
            "natively; weights, optimizer and the exported model stay float32",
        ),
    )
    # MLP
    security_snr_db: str = field(
        default=DEFAULT_SNR_DB,
        metadata=_for("mlp", help="SNRs (dB) of the waveform PGD perturbation and of the additive noise"),
    )
    sample_rate: int = field(
        default=8000, metadata=_for("mlp", help="Hz; WAV files of any rate are downmixed and resampled to it")
    )
    clip_seconds: float = field(default=1.0, metadata=_for("mlp", help="clips are centre-cropped or padded to this"))
    num_mfcc: int = field(default=20, metadata=_for("mlp", help="MFCC coefficients per frame (at most num_mel_bins)"))
    num_mel_bins: int = field(default=40, metadata=_for("mlp", help="mel filters under the MFCCs"))
    frame_length: int = field(default=256, metadata=_for("mlp", help="STFT frame, in samples"))
    frame_step: int = field(default=128, metadata=_for("mlp", help="STFT hop, in samples (at most frame_length)"))
    hidden_units: int = field(default=1024, metadata=_for("mlp", help="units per hidden layer"))
    hidden_layers: int = field(default=2, metadata=_for("mlp", help="hidden layers of the MLP"))
    dropout: float = field(default=0.5, metadata=_for("mlp", help="dropout after each hidden layer"))
    aligned_frames: int = field(
        default=32,
        metadata=_for(
            "mlp",
            help="the voiced stretch (frames within voiced_margin_db of the loudest) is resampled to this many "
            "frames inside the model; 0: no time alignment",
        ),
    )
    voiced_margin_db: float = field(
        default=40.0,
        metadata=_for("mlp", help="frames within this many dB of the loudest count as voiced (the aligned stretch)"),
    )
    augment: bool = field(default=True, metadata=_for("mlp", help="speed, shift and noise perturbation"))
    speed_perturbation: float = field(
        default=0.1,
        metadata=_for("mlp", help="training: resample each clip by a factor in [1 - s, 1 + s] (sox `speed`); 0: off"),
    )
    noise_snr_db: float = field(
        default=40.0,
        metadata=_for(
            "mlp",
            help="training: added noise's SNR is drawn from [this, this + 20] dB; keep it at "
            "least voiced_margin_db, or the alignment takes the noise for voice",
        ),
    )
    conv_filters: int = field(
        default=0,
        metadata=_for(
            "mlp", help="a 1-D convolution of this many filters over the MFCC frames in front of the MLP; 0: none"
        ),
    )
    edge_cut_ms: float = field(
        default=0.0,
        metadata=_for(
            "mlp",
            help="training (with `augment`): cut up to this many ms (uniform; at most half the stretch) off the "
            "onset and the offset of each clip's voiced stretch (as in recordings cut tight), real and synthetic "
            "clips, never validation or test; 0: off (80 measured: within the seed "
            "spread, benchmarks/results/audio_levers-history.md)",
        ),
    )
    edge_cut_probability: float = field(
        default=0.5,
        metadata=_for("mlp", help="training: the chance that each edge of a clip is cut (with edge_cut_ms > 0)"),
    )
    synthetic_ratio: float = field(
        default=0.5,
        metadata=_for(
            "mlp",
            help="synthetic clips (the 'synthetic' channel, `python -m training.synthesize`) added per real clip "
            "in each batch; 0: ignore the channel",
        ),
    )

    # The names given explicitly (parse_hyperparameters): a family's defaults never override them.
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False, metadata={"internal": True})

    def __post_init__(self) -> None:
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"hyperparameter {key!r} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}"
                )
        for key, bounds in RANGES.items():
            bounds.check(key, getattr(self, key))
        if self.model != "cnn" and self.epochs == 0:
            raise ConfigError(
                f"hyperparameter 'epochs' must be at least 1 for model {self.model!r} (0, auto, is for the cnn only)"
            )
        if self.num_mfcc > self.num_mel_bins:
            raise ConfigError(
                f"hyperparameter 'num_mfcc' must be at most num_mel_bins ({self.num_mel_bins}), got {self.num_mfcc}"
            )
        if self.frame_step > self.frame_length:
            raise ConfigError(
                f"hyperparameter 'frame_step' must be at most frame_length ({self.frame_length}), got {self.frame_step}"
            )
        parse_eps("security_eps", self.security_eps)
        parse_snr("security_snr_db", self.security_snr_db)
        if 2 * self.crop_padding >= self.image_size:
            raise ConfigError(
                f"hyperparameter 'crop_padding' must be less than half of image_size "
                f"({self.image_size}), got {self.crop_padding}"
            )

    def for_model(self) -> dict[str, Any]:
        """The values that apply to the chosen model (what the manifest records)."""
        values = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("internal"):
                continue
            models = f.metadata.get("models")
            if not models or self.model in models:
                values[f.name] = getattr(self, f.name)
        return values


def _convert(key: str, text: str, kind: type) -> Any:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ConfigError(f"hyperparameter {key!r} must be true or false, got {text!r}")
    try:
        value = kind(text.strip()) if kind is not str else text
    except ValueError:
        raise ConfigError(
            f"hyperparameter {key!r} must be {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if kind is float and value != value:
        raise ConfigError(f"hyperparameter {key!r} must be a number, got {text!r}")
    return value


def parse_hyperparameters(raw: Mapping[str, str]) -> Hyperparameters:
    """Strings (hyperparameters.json, flags) to typed values; unknown names are refused."""
    fields = {f.name: f for f in dataclasses.fields(Hyperparameters)}
    if "model" not in raw:
        raise ConfigError(f"hyperparameter 'model' is required: one of {', '.join(MODELS)}")
    values: dict[str, Any] = dict(MODEL_DEFAULTS.get(str(raw["model"]), {}))
    for key, text in raw.items():
        if key.startswith(_FOREIGN_PREFIXES):
            continue
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown hyperparameter {key!r}; known: {known}")
        if fields[key].metadata.get("internal"):
            raise ConfigError(f"unknown hyperparameter {key!r}: it is not a setting")
        kind = {"int": int, "float": float, "bool": bool, "str": str}[str(fields[key].type)]
        values[key] = _convert(key, str(text), kind)
    given = frozenset(key for key in raw if key in fields)
    hp = Hyperparameters(**values, given=given)
    return with_family(hp, hp.family) if hp.family != "auto" else hp


def with_family(hp: Hyperparameters, family: str) -> Hyperparameters:
    """`hp` for the CNN family `family`: its recipe's defaults (FAMILY_DEFAULTS) where no value was
    given explicitly."""
    if family not in CNN_FAMILIES:
        raise ConfigError(f"hyperparameter 'family' must be one of {', '.join(CNN_FAMILIES)}, got {family!r}")
    defaults = {k: v for k, v in FAMILY_DEFAULTS[family].items() if k not in hp.given}
    return dataclasses.replace(hp, family=family, **defaults)
