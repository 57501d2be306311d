"""Typed hyperparameters, parsed from the strings SageMaker passes.

One frozen dataclass holds the common settings and each model's own; the defaults are the recipe.
An unknown name or a value of the wrong type stops the job with a message naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from training.errors import ConfigError

MODELS = ("cnn", "mlp")
PRECISIONS = ("auto", "bf16", "fp32")
# Each model's recipe where the common settings differ (epochs, batch size, peak learning rate).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {"epochs": 18, "batch_size": 256, "learning_rate": 0.2},
    "mlp": {"epochs": 80, "batch_size": 64, "learning_rate": 2e-3},
}
# Keys SageMaker or its SDK add on their own; they are not ours to validate.
_FOREIGN_PREFIXES = ("sagemaker_", "_tuning_", "_sagemaker")


def _for(*models: str, help: str = "") -> dict[str, Any]:
    return {"models": models, "help": help}


@dataclass(frozen=True)
class Hyperparameters:
    model: str
    name: str = ""
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 0.2
    seed: int = 0
    time_budget_s: float = 0.0  # 0: no budget
    validation_fraction: float = 0.1
    checkpoint_dir: str = ""
    processes_per_host: int = field(default=0, metadata=_for(help="0: one per GPU, one on a CPU host"))
    dist_port: int = field(default=29500, metadata=_for(help="port of the data-parallel rendezvous"))
    on_bad_file: str = field(default="error", metadata=_for(help="'error' stops the job, 'skip' skips and counts"))
    # CNN
    image_size: int = field(default=32, metadata=_for("cnn"))
    width: int = field(default=24, metadata=_for("cnn", help="channels of the stem; the stages have 2x, 4x, 8x"))
    label_smoothing: float = field(default=0.1, metadata=_for("cnn", "mlp"))
    weight_decay: float = field(default=5e-4, metadata=_for("cnn", "mlp"))
    momentum: float = field(default=0.9, metadata=_for("cnn"))
    warmup_fraction: float = field(default=0.2, metadata=_for("cnn", "mlp"))
    random_flip: bool = field(default=True, metadata=_for("cnn", help="false for mirror-sensitive images (digits)"))
    test_time_flip: bool = field(default=True, metadata=_for("cnn"))
    crop_padding: int = field(default=2, metadata=_for("cnn"))
    precision: str = field(default="auto", metadata=_for(
        "cnn", help="'bf16' (autocast), 'fp32', or 'auto': bf16 where the hardware computes it natively"))
    # MLP
    sample_rate: int = field(default=8000, metadata=_for("mlp"))
    clip_seconds: float = field(default=1.0, metadata=_for("mlp"))
    num_mfcc: int = field(default=20, metadata=_for("mlp"))
    num_mel_bins: int = field(default=40, metadata=_for("mlp"))
    frame_length: int = field(default=256, metadata=_for("mlp"))
    frame_step: int = field(default=128, metadata=_for("mlp"))
    hidden_units: int = field(default=1024, metadata=_for("mlp"))
    hidden_layers: int = field(default=2, metadata=_for("mlp"))
    dropout: float = field(default=0.5, metadata=_for("mlp"))
    aligned_frames: int = field(default=32, metadata=_for("mlp", help="0: no time alignment"))
    voiced_margin_db: float = field(default=40.0, metadata=_for(
        "mlp", help="frames within this many dB of the loudest count as voiced (the aligned stretch)"))
    augment: bool = field(default=True, metadata=_for("mlp", help="speed, shift and noise perturbation"))
    speed_perturbation: float = field(default=0.1, metadata=_for(
        "mlp", help="training: resample each clip by a factor in [1 - s, 1 + s] (sox `speed`); 0: off"))
    noise_snr_db: float = field(default=40.0, metadata=_for(
        "mlp", help="training: added noise's SNR is drawn from [this, this + 20] dB; keep it at "
                    "least voiced_margin_db, or the alignment takes the noise for voice"))
    conv_filters: int = field(default=0, metadata=_for(
        "mlp", help="a 1-D convolution of this many filters over the MFCC frames in front of the MLP; 0: none"))
    synthetic_ratio: float = field(default=0.5, metadata=_for(
        "mlp", help="synthetic clips (the 'synthetic' channel, `python -m training.synthesize`) added per real clip "
                    "in each batch; 0: ignore the channel"))
    refit: bool = field(default=True, metadata=_for(
        "mlp", help="with a 'test' channel and no 'validation' channel: train the artifact on every speaker of the "
                    "train channel for `epochs` (the count the four-rotation protocol chose) instead of holding "
                    "speakers out for validation"))

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"hyperparameter 'model' must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"hyperparameter 'precision' must be one of {', '.join(PRECISIONS)}, "
                              f"got {self.precision!r}")
        if self.on_bad_file not in ("error", "skip"):
            raise ConfigError(f"hyperparameter 'on_bad_file' must be 'error' or 'skip', got {self.on_bad_file!r}")
        for key in ("epochs", "batch_size", "image_size", "width", "sample_rate", "num_mfcc", "hidden_units"):
            if getattr(self, key) < 1:
                raise ConfigError(f"hyperparameter {key!r} must be at least 1, got {getattr(self, key)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"hyperparameter 'learning_rate' must be positive, got {self.learning_rate}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(f"hyperparameter 'validation_fraction' must be in [0, 1), got {self.validation_fraction}")
        if self.image_size and self.image_size < 16:
            raise ConfigError(f"hyperparameter 'image_size' must be at least 16, got {self.image_size}")
        if not 0.0 <= self.speed_perturbation < 0.5:
            raise ConfigError(f"hyperparameter 'speed_perturbation' must be in [0, 0.5), "
                              f"got {self.speed_perturbation}")
        if not 0.0 <= self.synthetic_ratio <= 4.0:
            raise ConfigError(f"hyperparameter 'synthetic_ratio' must be in [0, 4], got {self.synthetic_ratio}")
        if self.time_budget_s < 0:
            raise ConfigError(f"hyperparameter 'time_budget_s' must not be negative, got {self.time_budget_s}")

    def for_model(self) -> dict[str, Any]:
        """The values that apply to the chosen model (what the manifest records)."""
        values = {}
        for f in dataclasses.fields(self):
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
        raise ConfigError(f"hyperparameter {key!r} must be {'an integer' if kind is int else 'a number'}, "
                          f"got {text!r}") from None
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
        kind = {"int": int, "float": float, "bool": bool, "str": str}[str(fields[key].type)]
        values[key] = _convert(key, str(text), kind)
    return Hyperparameters(**values)
