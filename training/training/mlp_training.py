"""Training the MFCC MLP: a custom TensorFlow loop (AdamW, label smoothing, one-cycle schedule).

A custom loop rather than `model.fit`: Keras 3 `fit` under MultiWorkerMirroredStrategy fails in
TF 2.21, and the same step function runs under any `tf.distribute` strategy.
Waveforms are augmented on the fly (speed, time shift, gain, noise) before the in-model MFCC.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.data.folders import Dataset
from training.hyperparameters import Hyperparameters
from training.models.mlp import MFCCConfig, MLPConfig, build_classifier, build_waveform_model, export_mlp
from training.reporting import EpochMetrics, emit, progress
from training.schedule import Budget, one_cycle
from training.schedule import progress as schedule_progress

log = logging.getLogger(__name__)
MODEL_DIR_NAME = "saved_model"


def augment_waveforms(waves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Speed perturbation (0.9-1.1, as sox `speed`), time shift (up to 10%), gain and noise (20-40 dB SNR)."""
    n, length = waves.shape
    out = np.empty_like(waves)
    positions = np.arange(length, dtype=np.float32)
    for i in range(n):
        speed = rng.uniform(0.9, 1.1)
        centre = (length - 1) / 2
        source = centre + (positions - centre) * speed
        out[i] = np.interp(source, positions, waves[i], left=0.0, right=0.0)
    shifts = rng.integers(-length // 10, length // 10 + 1, size=n)
    for i, shift in enumerate(shifts):
        out[i] = np.roll(out[i], shift)
        if shift > 0:
            out[i, :shift] = 0
        elif shift < 0:
            out[i, shift:] = 0
    out *= rng.uniform(0.5, 1.5, size=(n, 1)).astype(np.float32)
    power = np.mean(out ** 2, axis=1, keepdims=True) + 1e-10
    snr_db = rng.uniform(20, 40, size=(n, 1))
    out += rng.standard_normal(out.shape).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10)).astype(np.float32)
    return np.clip(out, -1.0, 1.0)


class MLPTrainer:
    def __init__(self, hp: Hyperparameters, train: Dataset, validation: Dataset, budget: Budget,
                 strategy: tf.distribute.Strategy | None = None) -> None:
        self.hp = hp
        self.budget = budget
        self.epochs = hp.epochs
        self.batch_size = hp.batch_size
        self.peak_lr = hp.learning_rate
        self.strategy = strategy or tf.distribute.get_strategy()
        keras.utils.set_random_seed(hp.seed)
        self.rng = np.random.default_rng(hp.seed)
        self.waveform_input = train.inputs.ndim == 2
        self.train, self.validation = train, validation
        num_samples = int(round(hp.sample_rate * hp.clip_seconds))
        self.mfcc = MFCCConfig(sample_rate=hp.sample_rate, num_samples=num_samples, frame_length=hp.frame_length,
                               frame_step=hp.frame_step, fft_length=hp.frame_length, num_mel_bins=hp.num_mel_bins,
                               upper_hz=hp.sample_rate / 2, num_mfcc=hp.num_mfcc)
        feature_shape = (self.mfcc.num_frames, self.mfcc.num_mfcc) if self.waveform_input else train.inputs.shape[1:]
        self.config = MLPConfig(num_classes=len(train.class_names), feature_shape=tuple(feature_shape),
                                hidden_units=hp.hidden_units, hidden_layers=hp.hidden_layers, dropout=hp.dropout)
        with self.strategy.scope():
            self.classifier = build_classifier(self.config)
            self.model = build_waveform_model(self.classifier, self.mfcc) if self.waveform_input else self.classifier
            self.optimizer = keras.optimizers.AdamW(learning_rate=self.peak_lr, weight_decay=hp.weight_decay)
        self.loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=hp.label_smoothing,
                                                         reduction="none")
        self.steps_per_epoch = max(1, len(train) // self.batch_size)
        self.step = 0
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self._train_step = tf.function(self._step, reduce_retracing=True)
        self._predict = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def _step(self, inputs: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        def replica_step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                logits = self.model(x, training=True)
                per_example = self.loss(tf.one_hot(y, self.config.num_classes), logits)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.batch_size)
            variables = self.model.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int64), y), tf.float32))
            return tf.reduce_sum(per_example), correct

        loss_sum, correct = self.strategy.run(replica_step, args=(inputs, labels))
        reduce = tf.distribute.ReduceOp.SUM
        return self.strategy.reduce(reduce, loss_sum, axis=None), self.strategy.reduce(reduce, correct, axis=None)

    def predict_logits(self, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
        return np.concatenate([self._predict(tf.constant(inputs[i:i + batch_size])).numpy()
                               for i in range(0, len(inputs), batch_size)])

    def train_epoch(self) -> EpochMetrics:
        started = time.monotonic()
        order = self.rng.permutation(len(self.train))
        batches = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(self.steps_per_epoch)]
        loss_sum, correct, seen, lr = 0.0, 0.0, 0, 0.0
        for index in progress(batches, len(batches), f"epoch {self.epoch + 1}/{self.epochs}"):
            if self.budget.exhausted():
                log.info("time budget of %.0f s spent: stopping in epoch %d", self.budget.seconds, self.epoch + 1)
                break
            lr = one_cycle(schedule_progress(self.step, self.epochs * self.steps_per_epoch, self.budget),
                           self.peak_lr, self.hp.warmup_fraction)
            self.optimizer.learning_rate.assign(lr)
            inputs = self.train.inputs[index]
            if self.waveform_input and self.hp.augment:
                inputs = augment_waveforms(inputs, self.rng)
            batch_loss, batch_correct = self._train_step(tf.constant(inputs), tf.constant(self.train.labels[index]))
            self.step += 1
            loss_sum += float(batch_loss)
            correct += float(batch_correct)
            seen += len(index)
        train_time = time.monotonic() - started
        logits = self.predict_logits(self.validation.inputs)
        val_labels = self.validation.labels
        val_loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(val_labels, logits, from_logits=True)))
        val_accuracy = float(np.mean(logits.argmax(1) == val_labels))
        self.epoch += 1
        metrics = EpochMetrics(epoch=self.epoch, epochs=self.epochs, train_loss=loss_sum / max(seen, 1),
                               train_accuracy=correct / max(seen, 1), val_loss=val_loss, val_accuracy=val_accuracy,
                               lr=lr, epoch_time_s=time.monotonic() - started,
                               samples_per_s=seen / max(train_time, 1e-9))
        self.history.append(metrics.as_dict())
        return metrics

    def finished(self) -> bool:
        return self.epoch >= self.epochs or self.budget.exhausted()

    def fit(self) -> list[dict[str, float]]:
        while not self.finished():
            emit(self.train_epoch().line())
        return self.history

    def export(self, model_dir: Path) -> Path:
        path = model_dir / MODEL_DIR_NAME
        self.signatures = export_mlp(self.classifier, self.model if self.waveform_input else None, path,
                                     self.config.feature_shape, self.mfcc.num_samples)
        return path

    def input_contract(self) -> dict[str, object]:
        contract: dict[str, object] = {
            "kind": "audio", "features_in_model": self.waveform_input,
            "feature_shape": list(self.config.feature_shape), "signatures": self.signatures}
        if self.waveform_input:
            contract.update(sample_rate=self.mfcc.sample_rate, num_samples=self.mfcc.num_samples,
                            clip_seconds=self.mfcc.num_samples / self.mfcc.sample_rate, mfcc=self.mfcc.as_dict())
        return contract


def predict_with_artifact(path: Path, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Probabilities from the exported SavedModel itself (waveforms or features)."""
    loaded = tf.saved_model.load(str(path))
    endpoint = loaded.serve if inputs.ndim == 2 else loaded.serve_features
    return np.concatenate([endpoint(tf.constant(inputs[i:i + batch_size])).numpy()
                           for i in range(0, len(inputs), batch_size)])

