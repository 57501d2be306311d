"""Settings of a local-mode run: the data to make, each model's recipe, where outputs go."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from local_mode.paths import DEFAULT_OUTPUT
from shared_names import MODEL_KINDS as MODELS

MODEL_KIND = {"cnn": "images", "mlp": "audio"}


@dataclass(frozen=True)
class SampleData:
    """How much sample data to make (both sets are deterministic for a given seed)."""

    images_per_class: int = 0  # 0: every image of scikit-learn's digits (about 180 per class)
    image_size: int = 32
    image_held_out_fraction: float = 0.2
    speakers: tuple[str, ...] = ("ada", "ben", "cleo", "dan", "eve", "finn")
    held_out_speaker: str = "finn"
    utterances_per_digit: int = 25  # per speaker
    seed: int = 0


# The security evaluation (docs/security.md), small: a few items, a few seconds per model.
LOCAL_SECURITY = {"security_samples": "64", "security_budget_s": "15"}
SMOKE_SECURITY = {"security_samples": "16", "security_budget_s": "8", "security_pgd_steps": "2"}
# The smoke run exercises every step, not the quality: it trains its few steps without the
# small-data floor of optimizer steps (training/step_floor.py), which would multiply them.
SMOKE_TRAINING = {"min_steps": "0", **SMOKE_SECURITY}
# Hyperparameters as SageMaker passes them (strings); sized so `make local` stays under 10 minutes on
# two CPU cores. time_budget_s guards the wall time on a slower machine (training stops early, the
# artifact is still written).
FULL_RECIPES: dict[str, dict[str, str]] = {
    "cnn": {
        "model": "cnn",
        "name": "cnn",
        "image_size": "32",
        "width": "16",
        "epochs": "6",
        "batch_size": "64",
        "learning_rate": "0.1",
        "time_budget_s": "240",
        "seed": "0",
        **LOCAL_SECURITY,
    },
    "mlp": {
        "model": "mlp",
        "name": "mlp",
        "epochs": "25",
        "batch_size": "64",
        "time_budget_s": "150",
        "seed": "0",
        **LOCAL_SECURITY,
    },
}
# The sample digits are mirror-sensitive: no flips in training or at test time (natural images keep them).
SAMPLE_DATA_OVERRIDES: dict[str, dict[str, str]] = {"cnn": {"random_flip": "false", "test_time_flip": "false"}}
SMOKE_RECIPES: dict[str, dict[str, str]] = {
    "cnn": {
        "model": "cnn",
        "name": "cnn",
        "image_size": "16",
        "width": "8",
        "epochs": "2",
        "batch_size": "32",
        "learning_rate": "0.1",
        "time_budget_s": "60",
        "seed": "0",
        **SMOKE_TRAINING,
    },
    "mlp": {
        "model": "mlp",
        "name": "mlp",
        "epochs": "3",
        "batch_size": "32",
        "hidden_units": "64",
        "time_budget_s": "60",
        "seed": "0",
        **SMOKE_TRAINING,
    },
}
SMOKE_SAMPLE_DATA = SampleData(
    images_per_class=12, image_size=16, speakers=("ada", "ben", "cleo"), held_out_speaker="cleo", utterances_per_digit=3
)


@dataclass(frozen=True)
class LocalSettings:
    output: Path = DEFAULT_OUTPUT
    port: int = 8080
    images: Path | None = None  # the user's data; None with `audio` None too: sample data for both
    audio: Path | None = None
    sample: SampleData = SampleData()
    recipes: dict[str, dict[str, str]] = field(default_factory=lambda: dict(FULL_RECIPES))
    held_out_limit: int = 500  # most held-out samples sent to a server per model
    held_out_fraction: float = 0.1  # of the user's data, kept out of training for invocation
    train_timeout_s: float = 900.0
    ping_timeout_s: float = 120.0

    @property
    def uses_sample_data(self) -> bool:
        return self.images is None and self.audio is None

    @property
    def models(self) -> tuple[str, ...]:
        if self.uses_sample_data:
            return MODELS
        return tuple(m for m in MODELS if getattr(self, MODEL_KIND[m]) is not None)

    def smoke(self) -> LocalSettings:
        """The smallest run that still exercises every step (the integration tests use it)."""
        return replace(self, sample=SMOKE_SAMPLE_DATA, recipes=dict(SMOKE_RECIPES), held_out_limit=40)
