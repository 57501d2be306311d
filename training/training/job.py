"""One training job: load the channels, train, export the artifact, evaluate it, write the outputs.

Only the framework of the chosen model is imported, so the CNN image never needs TensorFlow and
the MLP image never needs PyTorch.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from training.artifact import Manifest, write_manifest
from training.contract import TrainingEnvironment
from training.data.folders import Dataset
from training.data.split import split_train_validation
from training.errors import DataError
from training.evaluation import evaluate, plot_confusion_matrix, plot_learning_curves, write_evaluation
from training.hyperparameters import Hyperparameters
from training.reporting import emit, final_line
from training.schedule import Budget

log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: Dataset
    validation: Dataset
    test: Dataset | None

    @property
    def held_out(self) -> tuple[str, Dataset]:
        """What the final evaluation runs on: the test channel if given, else validation."""
        return ("test", self.test) if self.test is not None else ("validation", self.validation)


class Trainer(Protocol):
    history: list[dict[str, float]]

    def fit(self) -> list[dict[str, float]]: ...
    def export(self, model_dir: Path) -> Path: ...
    def input_contract(self) -> dict[str, object]: ...


def load_splits(env: TrainingEnvironment, hp: Hyperparameters, load: Any) -> Splits:
    """`load(path, class_names)` reads one channel; validation and test use the train channel's classes."""
    if "train" not in env.channels:
        raise DataError(f"no 'train' channel: expected {env.input_dir / 'data' / 'train'} or SM_CHANNEL_TRAIN")
    train = load(env.channels["train"], None)
    log.info("train channel %s: %d samples, %d classes", env.channels["train"], len(train), len(train.class_names))
    if "validation" in env.channels:
        validation = load(env.channels["validation"], train.class_names)
    else:
        train, validation = split_train_validation(train, hp.validation_fraction, hp.seed)
    test = load(env.channels["test"], train.class_names) if "test" in env.channels else None
    return Splits(train=train, validation=validation, test=test)


def _cnn(env: TrainingEnvironment, hp: Hyperparameters, budget: Budget) -> tuple[Trainer, Splits, Any, dict]:
    import torch

    from training import cnn_training
    from training.data.images import ImageSettings, load_image_folder

    torch.set_num_threads(max(1, env.num_cpus))
    settings = ImageSettings(size=hp.image_size, on_bad_file=hp.on_bad_file)
    splits = load_splits(env, hp, lambda path, names: load_image_folder(path, settings, names))
    trainer = cnn_training.CNNTrainer(hp, splits.train, splits.validation, budget)
    framework = {"framework": "pytorch", "framework_version": torch.__version__.split("+")[0],
                 "task": "image_classification"}
    return trainer, splits, cnn_training.predict_with_artifact, framework


def _mlp(env: TrainingEnvironment, hp: Hyperparameters, budget: Budget) -> tuple[Trainer, Splits, Any, dict]:
    import tensorflow as tf

    from training import mlp_training
    from training.data.audio import AudioSettings, load_audio_channel

    settings = AudioSettings(sample_rate=hp.sample_rate, num_samples=int(round(hp.sample_rate * hp.clip_seconds)),
                             on_bad_file=hp.on_bad_file)
    splits = load_splits(env, hp, lambda path, names: load_audio_channel(path, settings, names))
    trainer = mlp_training.MLPTrainer(hp, splits.train, splits.validation, budget)
    framework = {"framework": "tensorflow", "framework_version": tf.__version__, "task": "audio_classification"}
    return trainer, splits, mlp_training.predict_with_artifact, framework


def run_job(env: TrainingEnvironment, hp: Hyperparameters) -> dict[str, Any] | None:
    """Train and, on the first host, write artifact, manifest, evaluation and plots. Returns the evaluation."""
    budget = Budget(hp.time_budget_s)
    log.info("model=%s host=%s of %s cpus=%d python=%s", hp.model, env.current_host, list(env.hosts), env.num_cpus,
             platform.python_version())
    build = _cnn if hp.model == "cnn" else _mlp
    trainer, splits, predict, framework = build(env, hp, budget)
    history = trainer.fit()
    if not history:
        raise DataError("training stopped before the first epoch ended (time_budget_s too small?)")
    if not env.is_master:
        return None
    env.model_dir.mkdir(parents=True, exist_ok=True)
    artifact_path = trainer.export(env.model_dir)
    split, held_out = splits.held_out
    probabilities = predict(artifact_path, held_out.inputs)
    evaluation = evaluate(held_out.labels, probabilities, splits.train.class_names, split)
    emit(final_line(split, evaluation["num_samples"], evaluation["accuracy"], evaluation["macro_f1"]))
    write_manifest(env.model_dir, Manifest(
        name=hp.name or hp.model, model_file=artifact_path.name, class_names=splits.train.class_names,
        input=trainer.input_contract(),
        metrics={"split": split, "accuracy": evaluation["accuracy"], "macro_f1": evaluation["macro_f1"],
                 "epochs_completed": len(history), "final_val_accuracy": history[-1]["val_accuracy"]},
        hyperparameters=hp.for_model(), **framework))
    write_evaluation(env.output_data_dir, evaluation)
    plot_learning_curves(history, env.output_data_dir / "learning_curves.png")
    plot_confusion_matrix(evaluation, env.output_data_dir / "confusion_matrix.png")
    log.info("wrote %s and %s", env.model_dir, env.output_data_dir)
    return evaluation
