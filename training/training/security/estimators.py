"""ART estimators over the exported serving programs, as a client calls them.

The served programs end in softmax and include the preprocessing (the CNN's normalisation and
test-time flip; the MLP's MFCCs), so the attacks perturb what a client sends: [0, 1] RGB pixels, or
waveform samples in [-1, 1]. ART wants logits for its cross-entropy; the log of the served
probabilities is one (softmax(log p) = p), so the loss the attacks climb is the served program's own
negative log-likelihood.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# log(0) guard, far below any probability a float32 softmax still represents (its smallest normal is
# 1.2e-38): a higher floor would cut the gradient of a confident model's wrong classes to zero.
LOG_FLOOR = 1e-37


def cnn_classifier(program_path: Path, num_classes: int, image_size: int) -> Any:
    """`PyTorchClassifier` over `model.pt2` (torch.export; differentiable with respect to its input)."""
    import torch
    from art.estimators.classification import PyTorchClassifier

    program = torch.export.load(str(program_path)).module()

    class LogProbabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.program = program

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.log(self.program(x).clamp_min(LOG_FLOOR))

        def train(self, mode: bool = True) -> LogProbabilities:  # an exported program has no train mode
            return self

    def build(device_type: str) -> Any:
        return PyTorchClassifier(
            model=LogProbabilities(),
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=(3, image_size, image_size),
            nb_classes=num_classes,
            clip_values=(0.0, 1.0),
            device_type=device_type,
        )

    if torch.cuda.is_available():  # the program was exported on the CPU: try it on the GPU, keep it if it runs
        try:
            classifier = build("gpu")
            classifier.loss_gradient(
                np.zeros((2, 3, image_size, image_size), np.float32), np.eye(num_classes, dtype=np.float32)[[0, 0]]
            )
            return classifier
        except RuntimeError as error:
            log.warning("security evaluation: the exported program does not run on the GPU (%s); on the CPU", error)
            program.to("cpu")
    return build("cpu")


def mlp_classifier(saved_model: Path, num_classes: int, input_shape: tuple[int, ...]) -> Any:
    """`TensorFlowV2Classifier` over the SavedModel's `serve` (waveform in, probabilities out; samples
    clipped to [-1, 1]), or `serve_features` for a features-only model (input_shape of rank 2)."""
    import tensorflow as tf
    from art.estimators.classification import TensorFlowV2Classifier

    loaded = tf.saved_model.load(str(saved_model))
    waveform = len(input_shape) == 1
    endpoint = loaded.serve if waveform else loaded.serve_features

    class LogProbabilities:
        def __init__(self) -> None:
            self.loaded = loaded  # keeps the SavedModel's variables alive

        @tf.autograph.experimental.do_not_convert  # a restored concrete function: nothing to convert
        def __call__(self, x: Any, training: bool = False) -> Any:
            return tf.math.log(tf.maximum(endpoint(tf.cast(x, tf.float32)), LOG_FLOOR))

    def margin_loss(onehot: Any, log_probabilities: Any) -> Any:
        """Carlini-Wagner's margin on the log-probabilities: the best wrong class's minus the true
        class's. Cross-entropy is flat where the softmax saturates (its gradient is the wrong classes'
        probabilities, ~1e-10 for a confident model), and ART's L2 step divides the gradient by its
        norm plus 1e-7, so an L2 attack on it would not move; the margin's gradient stays of order 1."""
        onehot = tf.cast(onehot, log_probabilities.dtype)
        true = tf.reduce_sum(onehot * log_probabilities, axis=1)
        wrong = tf.reduce_max(log_probabilities - onehot * 1e9, axis=1)
        return tf.reduce_mean(wrong - true)

    return TensorFlowV2Classifier(
        model=LogProbabilities(),
        nb_classes=num_classes,
        input_shape=tuple(input_shape),
        loss_object=margin_loss,
        clip_values=(-1.0, 1.0) if waveform else None,
    )


def predict(classifier: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Served probabilities (the estimator returns their logs)."""
    return np.exp(classifier.predict(x.astype(np.float32), batch_size=batch_size))
