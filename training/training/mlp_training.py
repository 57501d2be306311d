"""Training the MFCC MLP: a custom TensorFlow loop (AdamW, label smoothing, one-cycle schedule).

A custom loop rather than `model.fit`: Keras 3 `fit` under MultiWorkerMirroredStrategy fails in
TF 2.21, and the same step function runs under any `tf.distribute` strategy. Each worker feeds its
share of every global batch; gradients are all-reduced by the strategy.
Waveforms are augmented on the fly (word edges cut, speed, time shift, gain, noise) before the in-model MFCC.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.artifact import audio_input
from training.data.folders import Dataset
from training.distributed import Topology
from training.errors import DataError
from training.hyperparameters import Hyperparameters
from training.models.mlp import (
    MFCCConfig,
    MLPConfig,
    build_classifier,
    build_waveform_model,
    explanation_contract,
    export_mlp,
)
from training.sampler import global_batches, rank_share, step_seed
from training.word_edges import EdgeCut, cut_word_edges

log = logging.getLogger(__name__)
MODEL_DIR_NAME = "saved_model"


def augment_waveforms(
    waves: np.ndarray, rng: np.random.Generator, noise_snr_db: float = 40.0, speed: float = 0.1
) -> np.ndarray:
    """Speed perturbation (a factor in [1 - speed, 1 + speed], as sox `speed`), time shift (up to 10%), gain
    and noise, its SNR over the whole clip drawn from [noise_snr_db, noise_snr_db + 20] dB.

    Noise within `voiced_margin_db` of the loudest frame makes the model's time alignment
    (`VoicedAlignment`) take the whole clip as voiced. On fsdd-dev that happened to 13% of the training
    clips with the old 30 dB margin and 20-40 dB SNR; with the 40 dB margin and 40-60 dB SNR, to 3%
    (1.4% of clean clips, from the recordings' own noise).
    """
    n, length = waves.shape
    out = np.empty_like(waves)
    positions = np.arange(length, dtype=np.float32)
    centre = (length - 1) / 2
    for i in range(n):
        source = centre + (positions - centre) * rng.uniform(1.0 - speed, 1.0 + speed)
        out[i] = np.interp(source, positions, waves[i], left=0.0, right=0.0)
    shifts = rng.integers(-length // 10, length // 10 + 1, size=n)
    for i, shift in enumerate(shifts):
        out[i] = np.roll(out[i], shift)
        if shift > 0:
            out[i, :shift] = 0
        elif shift < 0:
            out[i, shift:] = 0
    out *= rng.uniform(0.5, 1.5, size=(n, 1)).astype(np.float32)
    power = np.mean(out**2, axis=1, keepdims=True) + 1e-10
    snr_db = rng.uniform(noise_snr_db, noise_snr_db + 20, size=(n, 1))
    out += rng.standard_normal(out.shape).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10)).astype(np.float32)
    return np.clip(out, -1.0, 1.0)


@dataclass
class SyntheticMixture:
    """The real training clips and, after them, the synthetic ones; every batch of `batch_size` real clips
    gets `per_batch` synthetic clips drawn at random (an epoch is still one pass over the real data).

    The ratio weights the synthetic speakers against the real ones without changing the epoch's length:
    the four-rotation protocol chose it (benchmarks/results/audio_levers-history.md).
    """

    inputs: np.ndarray
    labels: np.ndarray
    num_real: int
    per_batch: int

    @classmethod
    def build(cls, real: Dataset, synthetic: Dataset | None, ratio: float, batch_size: int) -> SyntheticMixture:
        if synthetic is None or ratio <= 0 or len(synthetic) == 0:
            return cls(real.inputs, real.labels, len(real), 0)
        if synthetic.class_names != real.class_names:
            raise DataError(
                f"{synthetic.source}: classes {synthetic.class_names} differ from the train "
                f"channel's {real.class_names}"
            )
        if synthetic.inputs.shape[1:] != real.inputs.shape[1:]:
            raise DataError(
                f"{synthetic.source}: inputs of shape {synthetic.inputs.shape[1:]} differ from the "
                f"train channel's {real.inputs.shape[1:]}"
            )
        per_batch = max(1, int(round(ratio * batch_size)))
        log.info(
            "synthetic channel %s: %d clips, %d per batch of %d real clips",
            synthetic.source,
            len(synthetic),
            per_batch,
            batch_size,
        )
        return cls(
            np.concatenate([real.inputs, synthetic.inputs]),
            np.concatenate([real.labels, synthetic.labels]),
            len(real),
            per_batch,
        )

    def add_synthetic(self, batches: Sequence[np.ndarray], seed: int, epoch: int) -> list[np.ndarray]:
        """Each real batch followed by its synthetic draw (seeded by seed and epoch, so resumable)."""
        if self.per_batch == 0:
            return list(batches)
        rng = np.random.default_rng([seed, epoch, 1])
        num_synthetic = len(self.labels) - self.num_real
        return [
            np.concatenate([b, self.num_real + rng.integers(0, num_synthetic, size=self.per_batch)]) for b in batches
        ]


def make_strategy(topo: Topology) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy across hosts (reads TF_CONFIG), the default strategy on one host."""
    if len(topo.hosts) > 1:
        log.info("joining MultiWorkerMirroredStrategy: worker %d of %d", topo.host_rank, len(topo.hosts))
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


class MLPTrainer:
    """One worker's model, optimizer and data; implements `loop.EpochTrainer`."""

    def __init__(
        self,
        hp: Hyperparameters,
        train: Dataset,
        validation: Dataset,
        topo: Topology,
        strategy: tf.distribute.Strategy,
        synthetic: Dataset | None = None,
    ) -> None:
        self.hp = hp
        self.topo = topo
        self.world_size = len(topo.hosts)
        self.strategy = strategy
        keras.utils.set_random_seed(hp.seed)
        self.waveform_input = train.inputs.ndim == 2
        self.train, self.validation = train, validation
        self.mixture = SyntheticMixture.build(train, synthetic, hp.synthetic_ratio, hp.batch_size)
        self.mfcc = MFCCConfig.from_hyperparameters(hp)
        self.edge_cut = EdgeCut(
            max_ms=hp.edge_cut_ms,
            probability=hp.edge_cut_probability,
            sample_rate=hp.sample_rate,
            frame_length=hp.frame_length,
            frame_step=hp.frame_step,
            margin_db=hp.voiced_margin_db,
        )
        feature_shape = (self.mfcc.num_frames, self.mfcc.num_mfcc) if self.waveform_input else train.inputs.shape[1:]
        self.config = MLPConfig.from_hyperparameters(hp, len(train.class_names), tuple(feature_shape))
        with strategy.scope():
            self.classifier = build_classifier(self.config)
            self.model = build_waveform_model(self.classifier, self.mfcc) if self.waveform_input else self.classifier
            self.optimizer = keras.optimizers.AdamW(learning_rate=hp.learning_rate, weight_decay=hp.weight_decay)
            self.optimizer.build(self.model.trainable_variables)
        self.loss = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=hp.label_smoothing, reduction="none"
        )
        self.global_batch_size = hp.batch_size + self.mixture.per_batch
        self.steps_per_epoch = max(1, len(train) // hp.batch_size)
        self._train_step = tf.function(self._distributed_step, reduce_retracing=True)
        self._all_sum = tf.function(self._distributed_sum)
        self._predict = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def _distributed_step(self, inputs: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        def replica_step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                logits = self.model(x, training=True)
                per_example = self.loss(tf.one_hot(y, self.config.num_classes), logits)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
            variables = self.model.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int64), y), tf.float32))
            return tf.reduce_sum(per_example), correct

        return self.strategy.run(replica_step, args=(inputs, labels))

    def _distributed_sum(self, values: tf.Tensor) -> tf.Tensor:
        per_replica = self.strategy.run(tf.identity, args=(values,))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def batches(self, epoch: int) -> Sequence[np.ndarray]:
        real = global_batches(len(self.train), self.hp.batch_size, self.hp.seed, epoch)
        return [
            rank_share(b, self.topo.host_rank, self.world_size)
            for b in self.mixture.add_synthetic(real, self.hp.seed, epoch)
        ]

    def train_batch(self, batch: np.ndarray, learning_rate: float, step: int) -> tuple[float, float, float]:
        self.optimizer.learning_rate.assign(learning_rate)
        inputs = self.mixture.inputs[batch]
        if self.waveform_input and self.hp.augment and self.edge_cut.enabled:
            # Its own generator: the other augmentations draw as they did without the cut.
            inputs = cut_word_edges(
                inputs, np.random.default_rng([*step_seed(self.hp.seed, step, self.topo.rank), 2]), self.edge_cut
            )
        if self.waveform_input and self.hp.augment:
            inputs = augment_waveforms(
                inputs,
                np.random.default_rng(step_seed(self.hp.seed, step, self.topo.rank)),
                self.hp.noise_snr_db,
                self.hp.speed_perturbation,
            )
        loss_sum, correct = self._train_step(tf.constant(inputs), tf.constant(self.mixture.labels[batch]))
        local = self.strategy.experimental_local_results  # this worker's replicas; ranks are summed by the loop
        return sum(float(v) for v in local(loss_sum)), sum(float(v) for v in local(correct)), float(len(batch))

    def all_sum(self, values: Sequence[float]) -> list[float]:
        if self.world_size == 1:
            return list(values)
        return self._all_sum(tf.constant(list(values), tf.float64)).numpy().tolist()

    def predict_logits(self, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
        return np.concatenate(
            [self._predict(tf.constant(inputs[i : i + batch_size])).numpy() for i in range(0, len(inputs), batch_size)]
        )

    def validate(self) -> tuple[float, float]:
        """Every worker scores the whole (small) validation set, so the figures agree without a reduce."""
        logits = self.predict_logits(self.validation.inputs)
        labels = self.validation.labels
        loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)))
        return loss, float(np.mean(logits.argmax(1) == labels))

    def _state_variables(self) -> list[tf.Variable]:
        return [*self.model.variables, *self.optimizer.variables]

    def write_state(self, path: Path) -> None:
        with path.open("wb") as stream:
            np.savez(stream, *[np.asarray(v.numpy()) for v in self._state_variables()])

    def read_state(self, path: Path) -> None:
        variables = self._state_variables()
        with np.load(path) as archive:
            values = [archive[f"arr_{i}"] for i in range(len(archive.files))]
        if len(values) != len(variables):
            raise ValueError(f"{path}: holds {len(values)} variables, the model has {len(variables)}")
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)

    def close(self, completed: bool) -> None:
        """Nothing to leave: the strategy's collectives end with the process."""

    def weights_checksum(self) -> float:
        """Equal on every worker when the strategy keeps the replicas in step."""
        return float(sum(np.abs(v.numpy()).astype(np.float64).sum() for v in self.classifier.trainable_variables))

    def export(self, model_dir: Path) -> Path:
        """Export a copy built outside the strategy: saving distributed variables needs every worker."""
        classifier = build_classifier(self.config)
        classifier.set_weights(self.classifier.get_weights())
        path = model_dir / MODEL_DIR_NAME
        mfcc = self.mfcc if self.waveform_input else None
        self.input, self.explanation = export_artifact(classifier, self.config.feature_shape, mfcc, path)
        return path

    def input_contract(self) -> dict[str, object]:
        return self.input


def export_artifact(
    classifier: keras.Model, feature_shape: tuple[int, int], mfcc: MFCCConfig | None, path: Path
) -> tuple[dict[str, object], dict[str, object]]:
    """Write `classifier` as the artifact's SavedModel at `path`, with the waveform endpoint (the MFCCs
    computed in the model by `mfcc`) unless `mfcc` is None; returns the manifest's `input` and
    `explanation` blocks. Training exports through it, and so do the benchmark's and the tests' artifacts."""
    waveform_model = build_waveform_model(classifier, mfcc) if mfcc is not None else None
    num_samples = mfcc.num_samples if mfcc is not None else 0
    signatures = export_mlp(classifier, waveform_model, path, feature_shape, num_samples)
    return audio_input(feature_shape, signatures, mfcc), explanation_contract(mfcc is not None)


def predict_with_artifact(path: Path, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Probabilities from the exported SavedModel itself (waveforms or features)."""
    loaded = tf.saved_model.load(str(path))
    endpoint = loaded.serve if inputs.ndim == 2 else loaded.serve_features
    return np.concatenate(
        [endpoint(tf.constant(inputs[i : i + batch_size])).numpy() for i in range(0, len(inputs), batch_size)]
    )
