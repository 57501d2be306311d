"""One training job: load the channels, train (resuming from a checkpoint), export, evaluate, report.

Only the framework of the chosen model is imported, so the CNN image never needs TensorFlow and
the MLP image never needs PyTorch. Every rank runs this; only the master writes the artifact,
`evaluation.json` and the plots.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.artifact import Manifest, write_manifest
from training.checkpoint import CheckpointStore
from training.contract import OPT_ML, TrainingEnvironment
from training.data.folders import Dataset
from training.data.split import split_train_validation
from training.distributed import Topology, export_tf_config, pin_network_interface, processes_per_host, topology
from training.errors import DataError
from training.evaluation import evaluate, plot_confusion_matrix, plot_learning_curves, write_evaluation
from training.hyperparameters import Hyperparameters, parse_hyperparameters, with_family
from training.loop import EpochLoop, StopSignal
from training.reporting import emit, final_line
from training.schedule import Budget
from training.security.budgets import SECURITY_KEYS
from training.step_floor import plan as step_plan
from training.storage import check_output_folders, write_error

log = logging.getLogger(__name__)
# Settings that may change between a run and its resumption without changing what is trained.
# The MLP's optional channel of synthetic speakers (`python -m training.synthesize`). A SageMaker channel
# name: 1-64 characters of [A-Za-z0-9.-_] (https://docs.aws.amazon.com/sagemaker/latest/dg/API_Channel.html).
SYNTHETIC_CHANNEL = "synthetic"
# The CNN's width and epochs are fingerprinted as given (0 for auto), so a resumed auto job matches
# its checkpoints and never resumes one of an explicit width; the choice itself is the checkpoint's
# recipe record. probe_seconds only shapes a measurement a resumed job does not repeat.
NOT_FINGERPRINTED = (
    "name",
    "checkpoint_dir",
    "on_bad_file",
    "processes_per_host",
    "dist_port",
    "explain_per_class",
    "probe_seconds",
    *SECURITY_KEYS,  # the security evaluation measures the artifact; it changes nothing trained
)


# The training log's line when the evaluated model learned nothing (evaluation.json's `learning_check`).
LEARNING_WARNING_PREFIX = "warning: learning_check: "
# Who chose the epochs of a refit (no validation split is left to choose them from).
REFIT_EPOCHS_CHOSEN_BY = {
    "mlp": "the four-rotation protocol (benchmarks/results/train-history.md)",
    "cnn": "the recipe (time budget, measured speed and the frontier table; `recipe` beside this)",
}


@dataclass
class Splits:
    train: Dataset
    validation: Dataset
    test: Dataset | None
    fit: dict[str, Any] = field(default_factory=dict)  # how the artifact's training set was chosen

    @property
    def held_out(self) -> tuple[str, Dataset]:
        """What the final evaluation runs on: the test channel if given, else validation."""
        return ("test", self.test) if self.test is not None else ("validation", self.validation)


def load_splits(
    env: TrainingEnvironment, hp: Hyperparameters, load: Callable[[Path, list[str] | None], Dataset]
) -> Splits:
    """`load(path, class_names)` reads one channel; validation and test use the train channel's classes."""
    if "train" not in env.channels:
        raise DataError(f"no 'train' channel: expected {env.input_dir / 'data' / 'train'} or SM_CHANNEL_TRAIN")
    train = load(env.channels["train"], None)
    log.info("train channel %s: %d samples, %d classes", env.channels["train"], len(train), len(train.class_names))
    test = load(env.channels["test"], train.class_names) if "test" in env.channels else None
    if "validation" in env.channels:
        validation = load(env.channels["validation"], train.class_names)
        fit = {"refit": False, "trained_on": "train channel", "validated_on": "validation channel"}
    elif test is not None and hp.refit:
        # The artifact learns every sample of the train channel; the test channel is only watched.
        # The reference profile is written from the held-out split, the test channel here (`Splits.held_out`).
        validation = test
        fit = {
            "refit": True,
            "trained_on": "the whole train channel",
            "validated_on": "test channel (monitoring only)",
            "epochs": hp.epochs,  # the CNN's auto (0) is replaced by the recipe's choice in _prepare_cnn
            "epochs_chosen_by": REFIT_EPOCHS_CHOSEN_BY[hp.model],
        }
        if train.groups is not None:
            fit["speakers"] = sorted(str(g) for g in np.unique(train.groups))
        if hp.model == "mlp":
            epochs, held = f"{hp.epochs} epochs, the count the four-rotation protocol chose", "speakers"
        else:
            epochs = f"{hp.epochs} epochs" if hp.epochs > 0 else "the epochs the recipe chooses"
            held = f"{hp.validation_fraction:.0%} of it"
        emit(
            f"refit: training on every sample of the train channel{_speakers(train)} for {epochs}; the per-epoch "
            f"validation figures are on the test channel and choose nothing (refit=false holds {held} out instead)"
        )
    else:
        train, validation = split_train_validation(train, hp.validation_fraction, hp.seed)
        fit = {
            "refit": False,
            "trained_on": "train channel less the held-out split",
            "validated_on": f"{hp.validation_fraction:.0%} of the train channel",
        }
        if validation.groups is not None:
            fit["held_out_speakers"] = sorted(str(g) for g in np.unique(validation.groups))
    return Splits(train=train, validation=validation, test=test, fit=fit)


def _speakers(data: Dataset) -> str:
    if data.groups is None:
        return ""
    return f" ({len(np.unique(data.groups))} speakers)"


def checkpoint_dir(hp: Hyperparameters) -> Path | None:
    """The hyperparameter, else /opt/ml/checkpoints when SageMaker made it (CheckpointConfig is set)."""
    if hp.checkpoint_dir:
        return Path(hp.checkpoint_dir)
    default = OPT_ML / "checkpoints"
    return default if default.is_dir() else None


@dataclass
class Prepared:
    trainer: Any
    splits: Splits
    predict: Callable[[Path, np.ndarray], np.ndarray]
    framework: dict[str, str]
    topo: Topology
    hp: Hyperparameters  # what is trained: the CNN's auto width and epochs resolved
    store: CheckpointStore | None


def checkpoint_store(directory: Path | None, hp: Hyperparameters, class_names: list[str]) -> CheckpointStore | None:
    """The job's checkpoints, fingerprinted with the hyperparameters as given."""
    if directory is None:
        return None
    fingerprint = {k: v for k, v in hp.for_model().items() if k not in NOT_FINGERPRINTED}
    fingerprint["class_names"] = class_names
    defaults = parse_hyperparameters({"model": hp.model}).for_model()
    return CheckpointStore(directory, fingerprint, {k: v for k, v in defaults.items() if k in fingerprint})


def _prepare_cnn(
    env: TrainingEnvironment,
    hp: Hyperparameters,
    local_rank: int,
    processes: int,
    directory: Path | None,
    budget: Budget,
) -> Prepared:
    import torch

    from training import cnn_recipe, cnn_training
    from training.data.images import ImageSettings, load_image_folder

    topo = topology(env, processes, hp.dist_port, local_rank)
    torch.set_num_threads(max(1, env.num_cpus // processes))
    device = cnn_training.init_process_group(topo)
    settings = ImageSettings(size=hp.image_size, on_bad_file=hp.on_bad_file)
    splits = load_splits(env, hp, lambda path, names: load_image_folder(path, settings, names))
    store = checkpoint_store(directory, hp, splits.train.class_names)
    # Before any model is built: a restarted job takes its checkpoint's choice, a new one measures.
    choice = cnn_recipe.resolve(hp, splits.train, splits.validation, topo, device, budget, store)
    if store is not None:
        store.recipe = {**choice.as_dict(), "resumed": False}
    if topo.is_master:
        emit(choice.line())
        splits.fit["recipe"] = choice.as_dict()
    chosen = dataclasses.replace(with_family(hp, choice.family), width=choice.width, epochs=choice.epochs)
    resolved = _with_step_floor(chosen, splits, topo)
    trainer = cnn_training.CNNTrainer(resolved, splits.train, splits.validation, topo, device, budget)
    framework = {
        "framework": "pytorch",
        "framework_version": torch.__version__.split("+")[0],
        "task": "image_classification",
    }
    return Prepared(trainer, splits, cnn_training.predict_with_artifact, framework, topo, resolved, store)


def _prepare_mlp(
    env: TrainingEnvironment,
    hp: Hyperparameters,
    local_rank: int,
    processes: int,
    directory: Path | None,
    budget: Budget,
) -> Prepared:
    topo = topology(env, 1, hp.dist_port)  # one worker per host; MirroredStrategy spans its GPUs
    if len(topo.hosts) > 1:
        export_tf_config(topo)  # read when the strategy is created, before any other TensorFlow op
    import tensorflow as tf

    from training import mlp_training
    from training.data.audio import AudioSettings, load_audio_channel

    strategy = mlp_training.make_strategy(topo)
    settings = AudioSettings(
        sample_rate=hp.sample_rate, num_samples=int(round(hp.sample_rate * hp.clip_seconds)), on_bad_file=hp.on_bad_file
    )
    splits = load_splits(env, hp, lambda path, names: load_audio_channel(path, settings, names))
    synthetic = None
    if SYNTHETIC_CHANNEL in env.channels and hp.synthetic_ratio > 0:
        synthetic = load_audio_channel(env.channels[SYNTHETIC_CHANNEL], settings, splits.train.class_names)
        splits.fit["synthetic"] = {
            "clips": len(synthetic),
            "ratio": hp.synthetic_ratio,
            "speakers": 0 if synthetic.groups is None else len(np.unique(synthetic.groups)),
        }
    elif SYNTHETIC_CHANNEL in env.channels:
        log.info("synthetic channel given but synthetic_ratio=0: not used")
    store = checkpoint_store(directory, hp, splits.train.class_names)  # fingerprinted as given
    resolved = _with_step_floor(hp, splits, topo)
    trainer = mlp_training.MLPTrainer(resolved, splits.train, splits.validation, topo, strategy, synthetic)
    framework = {"framework": "tensorflow", "framework_version": tf.__version__, "task": "audio_classification"}
    return Prepared(trainer, splits, mlp_training.predict_with_artifact, framework, topo, resolved, store)


def _with_step_floor(hp: Hyperparameters, splits: Splits, topo: Topology) -> Hyperparameters:
    """`hp` after the small-data floor of optimizer steps (training/step_floor.py), recorded in the
    evaluation's `training.steps`. Every rank computes the same plan from the same train channel."""
    shrink_batch = hp.model == "cnn"  # SGD; the MLP's AdamW keeps its batch (training/step_floor.py)
    plan = step_plan(len(splits.train), hp.batch_size, hp.epochs, hp.learning_rate, hp.min_steps, shrink_batch)
    splits.fit["steps"] = plan.as_dict()
    if splits.fit.get("refit"):
        splits.fit["epochs"] = plan.epochs
    if plan.changed and topo.is_master:
        emit(plan.line(hp.batch_size, hp.epochs))
    return dataclasses.replace(hp, batch_size=plan.batch_size, epochs=plan.epochs, learning_rate=plan.learning_rate)


def _finish(
    env: TrainingEnvironment, hp: Hyperparameters, prepared: Prepared, history: list[dict[str, float]]
) -> dict[str, Any]:
    try:
        env.model_dir.mkdir(parents=True, exist_ok=True)
        artifact_path = prepared.trainer.export(env.model_dir)
    except (OSError, RuntimeError) as error:  # torch's zip writer reports a full disk as RuntimeError
        raise write_error(env.model_dir, error) from error
    try:
        return _evaluate_and_write(env, hp, prepared, history, artifact_path)
    except OSError as error:
        raise write_error(Path(error.filename or env.model_dir), error) from error


def _evaluate_and_write(
    env: TrainingEnvironment,
    hp: Hyperparameters,
    prepared: Prepared,
    history: list[dict[str, float]],
    artifact_path: Path,
) -> dict[str, Any]:
    splits = prepared.splits
    split, held_out = splits.held_out
    probabilities = prepared.predict(artifact_path, held_out.inputs)
    evaluation = evaluate(held_out.labels, probabilities, splits.train.class_names, split)
    evaluation["training"] = splits.fit
    emit(final_line(split, evaluation["num_samples"], evaluation["accuracy"], evaluation["macro_f1"]))
    if evaluation["learning_check"]["warning"]:
        emit(f"{LEARNING_WARNING_PREFIX}{evaluation['learning_check']['warning']}")
    write_manifest(
        env.model_dir,
        Manifest(
            name=hp.name or hp.model,
            model_file=artifact_path.name,
            class_names=splits.train.class_names,
            input=prepared.trainer.input_contract(),
            metrics={
                "split": split,
                "accuracy": evaluation["accuracy"],
                "macro_f1": evaluation["macro_f1"],
                "epochs_completed": len(history),
                "final_val_accuracy": history[-1]["val_accuracy"],
            },
            hyperparameters=hp.for_model(),
            explanation=getattr(prepared.trainer, "explanation", None),
            **prepared.framework,
        ),
    )
    explanation = getattr(prepared.trainer, "explanation", None)
    if hp.explain_per_class > 0 and explanation:
        from training.explanations import explain_held_out

        try:
            evaluation["explanations"] = explain_held_out(
                hp.model,
                env.model_dir,
                explanation,
                held_out.inputs,
                held_out.labels,
                probabilities,
                splits.train.class_names,
                hp.explain_per_class,
                env.output_data_dir,
            )
        except (OSError, MemoryError):
            raise
        except Exception as error:  # a report, not the product: the trained artifact stands without it
            log.warning("explanation figures failed: %s", error, exc_info=True)
            evaluation["explanations"] = {"error": f"{type(error).__name__}: {error}"}
    from training.reference_profile import write_reference_profile

    evaluation["reference_profile"] = write_reference_profile(
        hp.model, env.model_dir, prepared.trainer, held_out.inputs, probabilities, splits.train.class_names, split
    )
    if hp.security:
        from training.security.job import SecurityPlan, measure_or_report_error

        plan = SecurityPlan.from_hyperparameters(hp)
        evaluation["security"] = measure_or_report_error(
            plan, artifact_path, splits.train, held_out, split, env.output_data_dir
        )
    write_evaluation(env.output_data_dir, evaluation)
    plot_learning_curves(history, env.output_data_dir / "learning_curves.png")
    plot_confusion_matrix(evaluation, env.output_data_dir / "confusion_matrix.png")
    log.info("wrote %s and %s", env.model_dir, env.output_data_dir)
    return evaluation


def run_rank(
    env: TrainingEnvironment, hp: Hyperparameters, local_rank: int = 0, processes: int = 1
) -> dict[str, Any] | None:
    """Train as one rank; raises `loop.Preempted` after checkpointing on SIGTERM."""
    stop = StopSignal()
    stop.install()
    budget = Budget(hp.time_budget_s)
    directory = checkpoint_dir(hp)
    folders = {"output dir": env.output_dir}
    if local_rank == 0 and env.current_host == env.hosts[0]:  # the master's host writes the artifact
        folders.update({"model dir": env.model_dir, "output data dir": env.output_data_dir})
    if directory is not None:
        folders["checkpoint dir"] = directory
    check_output_folders(folders)
    pin_network_interface(env.network_interface)
    prepare = _prepare_cnn if hp.model == "cnn" else _prepare_mlp
    prepared = prepare(env, hp, local_rank, processes, directory, budget)
    hp, store = prepared.hp, prepared.store
    log.info(
        "rank %d of %d; checkpoints %s",
        prepared.topo.rank,
        prepared.topo.world_size,
        directory or "off (no checkpoint_dir and no /opt/ml/checkpoints)",
    )
    loop = EpochLoop(
        prepared.trainer,
        epochs=hp.epochs,
        peak_lr=hp.learning_rate,
        warmup_fraction=hp.warmup_fraction,
        lr_start_fraction=hp.lr_start_fraction,
        lr_end_fraction=hp.lr_end_fraction,
        budget=budget,
        stop=stop,
        checkpoints=store,
        is_master=prepared.topo.is_master,
    )
    completed = False
    try:
        history = loop.run()
        completed = True
    finally:
        prepared.trainer.close(completed)
    emit(f"rank={prepared.topo.rank} weights_checksum={prepared.trainer.weights_checksum():.6f}")
    if not history:
        raise DataError("training stopped before the first epoch ended (time_budget_s too small?)")
    return _finish(env, hp, prepared, history) if prepared.topo.is_master else None


def _spawned_rank(local_rank: int, env: TrainingEnvironment, hp: Hyperparameters, processes: int) -> None:
    from training.loop import Preempted

    try:
        run_rank(env, hp, local_rank, processes)
    except Preempted as preempted:
        log.info("%s", preempted)


def run_job(env: TrainingEnvironment, hp: Hyperparameters) -> None:
    log.info(
        "model=%s host=%s of %s cpus=%d gpus=%d python=%s",
        hp.model,
        env.current_host,
        list(env.hosts),
        env.num_cpus,
        env.num_gpus,
        platform.python_version(),
    )
    processes = processes_per_host(env, hp.processes_per_host) if hp.model == "cnn" else 1
    if processes == 1:
        run_rank(env, hp)
        return
    import torch.multiprocessing as mp

    context = mp.start_processes(
        _spawned_rank, args=(env, hp, processes), nprocs=processes, join=False, start_method="spawn"
    )

    def forward_sigterm(*_: object) -> None:  # SageMaker signals PID 1 only; every rank must checkpoint-agree
        for process in context.processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward_sigterm)
    while not context.join():
        pass
