"""Per-request explanations: attribution maps for the predicted (or a requested) class.

Methods (header `X-Amzn-SageMaker-Custom-Attributes: explain=<method>`, beside `top_k`):
- `integrated_gradients` (alias `ig`): Sundararajan et al. 2017, the path integral of the gradient
  from a baseline to the input, `steps` points (default DEFAULT_STEPS, `steps=N` up to MAX_STEPS) on
  Gauss-Legendre nodes, baseline all zeros (a black image in the CNN's [0, 1] input; all-zero MFCCs
  for the MLP). Attributions sum to `logit(input) - logit(baseline)` up to `completeness_delta`,
  which every answer reports.
- `gradient_x_input` (alias `gxi`): one gradient, times the input; the cheap method (one forward and
  one backward pass a row).

Attributions are of the target class's logit (the artifacts' explanation paths output logits: a
confident softmax saturates and its gradient says little). Libraries:
- CNN (PyTorch): Captum's `IntegratedGradients` and `InputXGradient` over the artifact's
  `explain.pt2` program (a torch.export program, differentiable with respect to its input). Captum
  is PyTorch's own, maintained attribution library; it installs beside torch 2.13 with no new
  dependency but matplotlib.
- MLP (TensorFlow): the SavedModel's `explain_features` endpoint returns logits and the gradient
  taken with `tf.GradientTape` inside the export (a function restored from a SavedModel has no
  gradient of its own); integrated gradients is the weighted sum of those gradients at the path
  points (a few lines of numpy, the same nodes and weights as Captum's default).

An artifact whose manifest has no `explanation` block (exported before this path existed) still
serves predictions; an explanation request to it is a 400 `explanation_unavailable`.

Each `Explainer` call runs on one thread of a small pool of its own (never the prediction batcher),
with one intra-op thread for torch so predictions keep the other cores; `cancel` is checked between
rows, so a request past its deadline stops costing CPU within one row's work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.artifact import AudioInput, Manifest
from inference.decoding import FEATURES, IMAGE, WAVEFORM
from inference.errors import ArtifactError, BadRequest, RequestError

log = logging.getLogger(__name__)

INTEGRATED_GRADIENTS = "integrated_gradients"
GRADIENT_X_INPUT = "gradient_x_input"
METHODS = {
    INTEGRATED_GRADIENTS: INTEGRATED_GRADIENTS,
    "ig": INTEGRATED_GRADIENTS,
    GRADIENT_X_INPUT: GRADIENT_X_INPUT,
    "gxi": GRADIENT_X_INPUT,
}
DEFAULT_STEPS = 32
MAX_STEPS = 256


class ExplanationUnavailable(RequestError):
    """The artifact has no differentiable path (an older export): predictions only."""

    status = 400
    code = "explanation_unavailable"


class Cancelled(Exception):
    """The request's deadline passed; the explanation stopped between rows."""


@dataclass(frozen=True)
class ExplainRequest:
    method: str
    target: int | None  # None: the predicted class
    steps: int


def parse_explain(header: str | None, class_names: tuple[str, ...]) -> ExplainRequest | None:
    """`explain=<method>` (with optional `target=<index or label>` and `steps=N`) from the custom
    attributes header; None when no explanation is asked for."""
    if not header:
        return None
    values: dict[str, str] = {}
    for item in header.replace(",", ";").split(";"):
        key, _, value = item.partition("=")
        values[key.strip().lower().replace("-", "_")] = value.strip()
    if "explain" not in values:
        return None
    method = METHODS.get(values["explain"].lower())
    if method is None:
        raise BadRequest(f"explain={values['explain'][:50]!r} is not a method; use one of {', '.join(METHODS)}")
    target: int | None = None
    if "target" in values:
        text = values["target"]
        if text in class_names:
            target = class_names.index(text)
        elif text.isdigit() and int(text) < len(class_names):
            target = int(text)
        else:
            raise BadRequest(f"target={text[:50]!r} is neither a class name nor an index below {len(class_names)}")
    steps = DEFAULT_STEPS
    if "steps" in values:
        text = values["steps"]
        if not text.isdigit() or not 1 <= int(text) <= MAX_STEPS:
            raise BadRequest(f"steps must be an integer from 1 to {MAX_STEPS}, found {text[:50]!r}")
        steps = int(text)
    return ExplainRequest(method, target, steps)


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Path points in (0, 1) and their weights (sum 1): Captum's default IG rule."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return ((nodes + 1) / 2).astype(np.float32), (weights / 2).astype(np.float32)


@dataclass
class Explained:
    """One request's explanation: per row, the attribution map, the target and its completeness gap."""

    probabilities: np.ndarray  # (N, classes), the served model's answer
    targets: list[int]
    attributions: np.ndarray  # CNN (N, H, W) summed over channels; MLP (N, frames, coefficients)
    deltas: list[float | None]  # integrated gradients: sum(attributions) - (logit(x) - logit(baseline))
    inputs: np.ndarray  # what was attributed (images for the overlay)


class Explainer:
    """The artifact's explanation path; called from the explanation threads only."""

    def __init__(self, manifest: Manifest, attribute: Callable[..., Explained]) -> None:
        self.manifest = manifest
        self._attribute = attribute

    def __call__(
        self, entry: str, batch: np.ndarray, request: ExplainRequest, cancel: threading.Event | None = None
    ) -> Explained:
        return self._attribute(entry, batch, request, cancel or threading.Event())

    def describe(self, request: ExplainRequest) -> dict[str, Any]:
        """What the answer states about the method: steps, baseline, what is attributed, the layout."""
        image = self.manifest.is_image
        about: dict[str, Any] = {
            "method": request.method,
            "output": "logit",
            "layout": ["height", "width"] if image else ["frame", "coefficient"],
        }
        if request.method == INTEGRATED_GRADIENTS:
            about.update(
                steps=request.steps,
                rule="gauss_legendre",
                baseline="zeros (black image)" if image else "zeros (all-zero MFCCs)",
            )
        return about


def _targets(probabilities: np.ndarray, request: ExplainRequest) -> list[int]:
    if request.target is not None:
        return [request.target] * len(probabilities)
    return probabilities.argmax(axis=1).tolist()


def _explained(
    probabilities: np.ndarray,
    inputs: np.ndarray,
    request: ExplainRequest,
    cancel: threading.Event,
    explain_row: Callable[[int, int], tuple[np.ndarray, float | None]],
) -> Explained:
    """The request's explanation: `explain_row(row, target)` (its attribution map, and the completeness
    delta of integrated gradients or None) for each row and its target, in order; Cancelled between rows
    once `cancel` is set."""
    targets = _targets(probabilities, request)
    maps: list[np.ndarray] = []
    deltas: list[float | None] = []
    for row, target in enumerate(targets):
        if cancel.is_set():
            raise Cancelled
        attribution, delta = explain_row(row, target)
        maps.append(attribution)
        deltas.append(delta)
    return Explained(probabilities, targets, np.stack(maps), deltas, inputs)


# --- PyTorch (CNN) ------------------------------------------------------------------------------


def _torch_explainer(manifest: Manifest) -> Explainer:
    import torch
    from captum.attr import InputXGradient, IntegratedGradients

    block = manifest.raw["explanation"]
    path = manifest.model_path.parent / str(block.get("model_file", ""))
    if not path.is_file():
        raise ArtifactError(f"manifest.json: explanation.model_file {path} does not exist")
    try:
        logits_program = torch.export.load(str(path)).module()
        served = torch.export.load(str(manifest.model_path)).module()
    except Exception as error:
        raise ArtifactError(f"{path}: cannot load the explanation program ({error})") from error
    integrated = IntegratedGradients(logits_program)
    input_x_gradient = InputXGradient(logits_program)

    def attribute(entry: str, batch: np.ndarray, request: ExplainRequest, cancel: threading.Event) -> Explained:
        torch.set_num_threads(1)  # this thread's OpenMP setting: the predictions keep the other cores
        x = torch.from_numpy(np.ascontiguousarray(batch))
        with torch.inference_mode():
            probabilities = served(x).float().numpy()

        def explain_row(row: int, target: int) -> tuple[np.ndarray, float | None]:
            one = x[row : row + 1].clone().requires_grad_(True)
            if request.method != INTEGRATED_GRADIENTS:
                return input_x_gradient.attribute(one, target=target).detach().sum(dim=1)[0].numpy(), None
            attribution, delta = integrated.attribute(
                one,
                baselines=torch.zeros_like(one),
                target=target,
                n_steps=request.steps,
                internal_batch_size=min(request.steps, 32),
                return_convergence_delta=True,
            )
            return attribution.detach().sum(dim=1)[0].numpy(), float(delta.item())

        return _explained(probabilities, batch, request, cancel, explain_row)

    return Explainer(manifest, attribute)


# --- TensorFlow (MLP) ---------------------------------------------------------------------------


def tf_gradients(
    endpoint: Callable[..., Any], features: np.ndarray, target: int, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(logits, gradient of the target logit) for each row of `features` through an `explain_features`
    endpoint."""
    import tensorflow as tf

    weights = np.zeros((len(features), classes), np.float32)
    weights[:, target] = 1.0
    out = endpoint(tf.constant(features), tf.constant(weights))
    return out["logits"].numpy(), out["gradients"].numpy()


def integrated_gradients_tf(
    endpoint: Callable[..., Any], features: np.ndarray, target: int, classes: int, steps: int
) -> tuple[np.ndarray, float]:
    """Integrated gradients of one row `features` (shape `feature_shape`) from the zero baseline, and
    the completeness gap."""
    alphas, weights = gauss_legendre(steps)
    path = alphas[:, None, None] * features[None]
    logits, gradients = tf_gradients(endpoint, path, target, classes)
    attribution = features * np.tensordot(weights, gradients, axes=1)
    ends, _ = tf_gradients(endpoint, np.stack([features, np.zeros_like(features)]), target, classes)
    delta = float(attribution.sum() - (ends[0, target] - ends[1, target]))
    return attribution, delta


def _tensorflow_explainer(manifest: Manifest) -> Explainer:
    import tensorflow as tf

    spec = manifest.input
    assert isinstance(spec, AudioInput)
    signatures = manifest.raw["explanation"].get("signatures", {})
    try:
        loaded = tf.saved_model.load(str(manifest.model_path))
    except Exception as error:
        raise ArtifactError(f"{manifest.model_path}: cannot load the SavedModel ({error})") from error

    def endpoint(name: str | None) -> Any:
        function = getattr(loaded, str(name), None) if name else None
        if function is None:
            raise ArtifactError(
                f"{manifest.model_path}: the SavedModel has no endpoint {name!r} (manifest.json explanation.signatures)"
            )
        return function

    gradients = endpoint(signatures.get("gradients"))
    served = endpoint(spec.features_signature)
    featurizer = endpoint(signatures.get("features")) if spec.waveform_signature is not None else None
    classes = len(manifest.class_names)

    def attribute(entry: str, batch: np.ndarray, request: ExplainRequest, cancel: threading.Event) -> Explained:
        assert loaded is not None  # the closure keeps the SavedModel (and its variables) alive
        if entry == WAVEFORM:
            assert featurizer is not None
            features = np.asarray(featurizer(tf.constant(batch)), np.float32)
        else:
            features = batch
        probabilities = np.asarray(served(tf.constant(features)), np.float32)

        def explain_row(row: int, target: int) -> tuple[np.ndarray, float | None]:
            if request.method == INTEGRATED_GRADIENTS:
                return integrated_gradients_tf(gradients, features[row], target, classes, request.steps)
            _, gradient = tf_gradients(gradients, features[row : row + 1], target, classes)
            return gradient[0] * features[row], None

        return _explained(probabilities, features, request, cancel, explain_row)

    return Explainer(manifest, attribute)


def has_explanation(manifest: Manifest) -> bool:
    """Whether the artifact has an explanation path (manifest.json's `explanation` block); a block
    that is not an object is an ArtifactError. Cheap: reads the manifest only."""
    block = manifest.raw.get("explanation")
    if block is not None and not isinstance(block, dict):
        raise ArtifactError("manifest.json: explanation must be an object")
    return block is not None


def load_explainer(manifest: Manifest) -> Explainer | None:
    """The artifact's explanation path, or None for an artifact without one (predictions only)."""
    if not has_explanation(manifest):
        return None
    explainer = _torch_explainer(manifest) if manifest.framework == "pytorch" else _tensorflow_explainer(manifest)
    entry = IMAGE if manifest.is_image else FEATURES
    shape = (3, manifest.image.height, manifest.image.width) if manifest.is_image else manifest.audio.feature_shape
    explainer(entry, np.zeros((1, *shape), np.float32), ExplainRequest(GRADIENT_X_INPUT, None, 1))  # warm up
    return explainer


# --- answers ------------------------------------------------------------------------------------


def time_spans(manifest: Manifest, frame_scores: np.ndarray) -> list[dict[str, float]]:
    """Per MFCC frame, the span of audio it covers (seconds) and its summed attribution."""
    mfcc = manifest.raw.get("input", {}).get("mfcc") or {}
    spec = manifest.input
    assert isinstance(spec, AudioInput)
    rate, step, length = spec.sample_rate, mfcc.get("frame_step"), mfcc.get("frame_length")
    if not (rate and step and length):
        return []
    return [
        {
            "start_s": round(i * step / rate, 4),
            "end_s": round((i * step + length) / rate, 4),
            "attribution": float(score),
        }
        for i, score in enumerate(frame_scores)
    ]


def encode_explanations(explained: Explained, manifest: Manifest, entry: str) -> list[dict[str, Any]]:
    """Per row, the `explanation` object of docs/contracts.md."""
    out = []
    for row, target in enumerate(explained.targets):
        attribution = explained.attributions[row]
        item: dict[str, Any] = {
            "target": {"index": target, "label": manifest.class_names[target]},
            "attributions": np.round(attribution, 7).tolist(),
            "total": float(attribution.sum()),
        }
        if explained.deltas[row] is not None:
            item["completeness_delta"] = explained.deltas[row]
        if not manifest.is_image:
            frames = attribution.sum(axis=1)
            item["frames"] = np.round(frames, 7).tolist()
            item["coefficients"] = np.round(attribution.sum(axis=0), 7).tolist()
            if entry == WAVEFORM:
                item["time_spans"] = time_spans(manifest, frames)
        out.append(item)
    return out
