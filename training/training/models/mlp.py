"""A Keras MLP on MFCC features, with the MFCC extraction inside the model.

The featurizer (tf.signal STFT -> log-mel -> DCT) is defined once, here, and exported inside the
SavedModel, so the server feeds waveforms and cannot drift from training. Per-utterance
cepstral mean and variance normalisation (CMVN) removes much of what differs between speakers
and microphones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf
from training.hyperparameters import Hyperparameters


@dataclass(frozen=True)
class MFCCConfig:
    """The MFCC front end. Its values come from the hyperparameters (`from_hyperparameters`), their one home."""

    sample_rate: int
    num_samples: int
    frame_length: int
    frame_step: int
    fft_length: int
    num_mel_bins: int
    num_mfcc: int
    upper_hz: float
    lower_hz: float = 20.0

    @classmethod
    def from_hyperparameters(cls, hp: Hyperparameters) -> MFCCConfig:
        return cls(
            sample_rate=hp.sample_rate,
            num_samples=int(round(hp.sample_rate * hp.clip_seconds)),
            frame_length=hp.frame_length,
            frame_step=hp.frame_step,
            fft_length=hp.frame_length,
            num_mel_bins=hp.num_mel_bins,
            upper_hz=hp.sample_rate / 2,
            num_mfcc=hp.num_mfcc,
        )

    @property
    def num_frames(self) -> int:
        return 1 + (self.num_samples - self.frame_length) // self.frame_step

    def as_dict(self) -> dict[str, float]:
        return {
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "num_mel_bins": self.num_mel_bins,
            "lower_hz": self.lower_hz,
            "upper_hz": self.upper_hz,
            "num_mfcc": self.num_mfcc,
        }


@dataclass(frozen=True)
class MLPConfig:
    """The classifier. Its values come from the hyperparameters (`from_hyperparameters`), their one home."""

    num_classes: int
    feature_shape: tuple[int, int]
    hidden_units: int
    hidden_layers: int
    dropout: float
    aligned_frames: int  # 0: no time alignment
    num_mel_bins: int  # scales c0 back to the mean log-mel energy for the voicing threshold
    voiced_margin_db: float
    conv_filters: int  # 0: none; else a 1-D convolution over MFCC frames in front of the MLP

    @classmethod
    def from_hyperparameters(cls, hp: Hyperparameters, num_classes: int, feature_shape: tuple[int, int]) -> MLPConfig:
        return cls(
            num_classes=num_classes,
            feature_shape=(feature_shape[0], feature_shape[1]),
            hidden_units=hp.hidden_units,
            hidden_layers=hp.hidden_layers,
            dropout=hp.dropout,
            aligned_frames=hp.aligned_frames,
            num_mel_bins=hp.num_mel_bins,
            voiced_margin_db=hp.voiced_margin_db,
            conv_filters=hp.conv_filters,
        )


class MFCC(keras.layers.Layer):
    """Waveform (N, num_samples) in [-1, 1] -> MFCC (N, frames, num_mfcc)."""

    def __init__(self, config: MFCCConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.mel_matrix = tf.signal.linear_to_mel_weight_matrix(
            config.num_mel_bins,
            config.fft_length // 2 + 1,
            config.sample_rate,
            config.lower_hz,
            min(config.upper_hz, config.sample_rate / 2),
        )

    def call(self, waveform: tf.Tensor) -> tf.Tensor:
        c = self.config
        stft = tf.signal.stft(
            waveform,
            frame_length=c.frame_length,
            frame_step=c.frame_step,
            fft_length=c.fft_length,
            window_fn=tf.signal.hann_window,
        )
        mel = tf.tensordot(tf.abs(stft) ** 2, self.mel_matrix, 1)
        log_mel = tf.math.log(mel + 1e-6)
        return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., : c.num_mfcc]


class VoicedAlignment(keras.layers.Layer):
    """Time alignment: the voiced stretch of each utterance, resampled to a fixed number of frames.

    Frames whose energy (c0, the scaled mean log-mel) is within `margin_db` of the loudest frame
    count as voiced; frames from the first to the last voiced one are linearly interpolated to
    `frames` frames. A fast and a slow speaker, or a word early or late in the clip, then line up
    position by position for the MLP. Inside the model, so serving does the same.
    """

    def __init__(self, frames: int, num_mel_bins: int, margin_db: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.frames = frames
        self.c0_scale = float(num_mel_bins) ** 0.5
        self.margin = margin_db / 10.0 * float(tf.math.log(10.0))  # dB to natural-log power

    def call(self, features: tf.Tensor) -> tf.Tensor:
        energy = features[..., 0] / self.c0_scale
        voiced = energy >= tf.reduce_max(energy, axis=1, keepdims=True) - self.margin
        length = tf.shape(features)[1]
        first = tf.cast(tf.argmax(tf.cast(voiced, tf.int32), axis=1), tf.float32)
        last = tf.cast(length - 1, tf.float32) - tf.cast(
            tf.argmax(tf.cast(tf.reverse(voiced, axis=[1]), tf.int32), axis=1), tf.float32
        )
        steps = tf.linspace(0.0, 1.0, self.frames)
        positions = first[:, None] + (last - first)[:, None] * steps[None, :]
        lower = tf.floor(positions)
        weight = (positions - lower)[..., None]
        lower = tf.cast(lower, tf.int32)
        upper = tf.minimum(lower + 1, length - 1)
        return (
            tf.gather(features, lower, batch_dims=1) * (1.0 - weight)
            + tf.gather(features, upper, batch_dims=1) * weight
        )


class UtteranceNormalization(keras.layers.Layer):
    """Cepstral mean and variance normalisation over the time axis of each utterance."""

    def call(self, features: tf.Tensor) -> tf.Tensor:
        mean, variance = tf.nn.moments(features, axes=[1], keepdims=True)
        return (features - mean) * tf.math.rsqrt(variance + 1e-3)


def build_classifier(config: MLPConfig) -> keras.Model:
    """MFCC features (N, frames, coefficients) -> logits."""
    features = keras.Input(shape=config.feature_shape, name="features")
    x = features
    if config.aligned_frames:
        x = VoicedAlignment(config.aligned_frames, config.num_mel_bins, config.voiced_margin_db)(x)
    x = UtteranceNormalization()(x)
    if config.conv_filters:
        # Local time-frequency patterns (a formant moving over five frames) wherever they fall.
        x = keras.layers.Conv1D(config.conv_filters, 5, padding="same", use_bias=False)(x)
        x = keras.layers.Activation("gelu")(keras.layers.BatchNormalization()(x))
    x = keras.layers.Flatten()(x)
    for _ in range(config.hidden_layers):
        x = keras.layers.Dense(config.hidden_units, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("gelu")(x)
        x = keras.layers.Dropout(config.dropout)(x)
    logits = keras.layers.Dense(config.num_classes, name="logits")(x)
    return keras.Model(features, logits, name="mfcc_mlp")


def build_waveform_model(classifier: keras.Model, mfcc: MFCCConfig) -> keras.Model:
    """Waveform (N, num_samples) -> logits, the featurizer in front of the classifier."""
    waveform = keras.Input(shape=(mfcc.num_samples,), name="waveform")
    return keras.Model(waveform, classifier(MFCC(mfcc)(waveform)), name="waveform_mlp")


def export_mlp(
    classifier: keras.Model,
    waveform_model: keras.Model | None,
    path: Path,
    feature_shape: tuple[int, int],
    num_samples: int,
) -> dict[str, str]:
    """Write a SavedModel with probability endpoints; returns the manifest's `signatures`."""
    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.add_endpoint(
        name="serve_features",
        fn=lambda x: tf.nn.softmax(classifier(x, training=False)),
        input_signature=[tf.TensorSpec((None, *feature_shape), tf.float32, name="features")],
    )
    signatures = {"features": "serve_features"}
    if waveform_model is not None:
        archive.track(waveform_model)
        archive.add_endpoint(
            name="serve",
            fn=lambda x: tf.nn.softmax(waveform_model(x, training=False)),
            input_signature=[tf.TensorSpec((None, num_samples), tf.float32, name="waveform")],
        )
        signatures["waveform"] = "serve"
    add_explanation_endpoints(archive, classifier, waveform_model, feature_shape, num_samples)
    archive.write_out(str(path), verbose=False)
    return signatures


def add_explanation_endpoints(
    archive: keras.export.ExportArchive,
    classifier: keras.Model,
    waveform_model: keras.Model | None,
    feature_shape: tuple[int, int],
    num_samples: int,
) -> None:
    """The differentiable path the server's explanations use (manifest `explanation`, docs/contracts.md).

    - `explain_features(features, weights)` -> `{"logits", "gradients"}`: the gradient of
      `sum(logits * weights)` with respect to the MFCC features, taken with `tf.GradientTape` inside the
      exported function. A function restored from a SavedModel has no gradient of its own (a tape
      around `loaded.serve_features` returns None in TF 2.21), so the gradient must be part of the export.
    - `waveform_features(waveform)` -> MFCC features, the same featurizer `serve` runs, so a waveform is
      explained per frame and coefficient (and per audio time span) like a features request.
    """
    num_classes = classifier.output_shape[-1]

    def gradients(features: tf.Tensor, weights: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(features)
            logits = classifier(features, training=False)
            score = tf.reduce_sum(logits * weights)
        return {"logits": logits, "gradients": tape.gradient(score, features)}

    archive.add_endpoint(
        name="explain_features",
        fn=gradients,
        input_signature=[
            tf.TensorSpec((None, *feature_shape), tf.float32, name="features"),
            tf.TensorSpec((None, num_classes), tf.float32, name="weights"),
        ],
    )
    if waveform_model is not None:
        featurizer = next(layer for layer in waveform_model.layers if isinstance(layer, MFCC))
        archive.add_endpoint(
            name="waveform_features",
            fn=lambda x: featurizer(x),
            input_signature=[tf.TensorSpec((None, num_samples), tf.float32, name="waveform")],
        )


def explanation_contract(waveform: bool) -> dict[str, object]:
    """The manifest's `explanation` block for an MLP artifact written by `export_mlp`."""
    signatures = {"gradients": "explain_features", **({"features": "waveform_features"} if waveform else {})}
    return {"output": "logits", "signatures": signatures}
