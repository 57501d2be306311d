"""Sanity checks of the served attributions, beyond shapes: completeness of integrated gradients, the
model-parameter randomization check, and attribution mass in the patch that holds the evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from inference.artifact import load_manifest
from inference.explain import GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, Explainer, ExplainRequest, load_explainer
from scipy.stats import spearmanr

from tests.helpers.explain_artifacts import (
    PATCH,
    build_explained_cnn,
    build_explained_mlp,
    build_patch_cnn,
    patch_image,
)

# Completeness: |sum(attributions) - (logit(x) - logit(0))| within this share of |logit(x) - logit(0)|
# plus an absolute floor for near-zero differences (32 Gauss-Legendre steps, float32).
COMPLETENESS_RELATIVE = 0.02
COMPLETENESS_ABSOLUTE = 1e-3


def _explainer(model_dir: Path) -> Explainer:
    explainer = load_explainer(load_manifest(model_dir))
    assert explainer is not None
    return explainer


def _ig(explainer: Explainer, entry: str, batch: np.ndarray, target: int | None = None):
    return explainer(entry, batch, ExplainRequest(INTEGRATED_GRADIENTS, target, 32))


def _assert_complete(total: float, delta: float) -> None:
    difference = total - delta  # sum(attributions) - delta = logit(x) - logit(baseline)
    assert abs(delta) <= COMPLETENESS_RELATIVE * abs(difference) + COMPLETENESS_ABSOLUTE, (total, delta)


def test_integrated_gradients_are_complete_on_the_cnn(tmp_path: Path) -> None:
    explainer = _explainer(build_explained_cnn(tmp_path / "cnn"))
    images = np.random.default_rng(1).uniform(0, 1, (2, 3, 32, 32)).astype(np.float32)
    explained = _ig(explainer, "image", images)
    for row in range(2):
        _assert_complete(float(explained.attributions[row].sum()), explained.deltas[row])
    # the logit differences are not ~0 (which would pass on the absolute floor alone)
    assert min(abs(float(explained.attributions[row].sum())) for row in range(2)) > 0.05


def test_integrated_gradients_are_complete_on_the_mlp(tmp_path: Path) -> None:
    explainer = _explainer(build_explained_mlp(tmp_path / "mlp"))
    t = np.arange(8000) / 8000
    waves = np.stack([0.5 * np.sin(2 * np.pi * hz * t) for hz in (300, 2000)]).astype(np.float32)
    explained = _ig(explainer, "waveform", waves)
    assert explained.attributions.shape == (2, 61, 20)
    for row in range(2):
        _assert_complete(float(explained.attributions[row].sum()), explained.deltas[row])
    # the recomputed gap is the measured one: logit differences are not all ~0 (a vacuous check)
    assert max(abs(float(explained.attributions[row].sum())) for row in range(2)) > 1e-3


@pytest.mark.parametrize("method", [INTEGRATED_GRADIENTS, GRADIENT_X_INPUT])
def test_attribution_concentrates_in_the_evidence_patch(tmp_path: Path, method: str) -> None:
    explainer = _explainer(build_patch_cnn(tmp_path / "patch"))
    explained = explainer("image", patch_image()[None], ExplainRequest(method, None, 32))
    assert explained.targets == [1]
    magnitude = np.abs(explained.attributions[0])
    share = magnitude[PATCH].sum() / magnitude.sum()
    area = (PATCH[0].stop - PATCH[0].start) * (PATCH[1].stop - PATCH[1].start) / magnitude.size
    assert share >= 0.9, f"{share:.3f} of the attribution in the patch ({area:.3f} of the image)"


def test_randomized_parameters_change_the_explanation(tmp_path: Path) -> None:
    """Adebayo et al. 2018: a map that survives re-initialising the weights explains the input, not the
    model. Rank correlation of the attributions between the model and its randomised twin must be low."""
    image = patch_image()[None]
    model = _ig(_explainer(build_patch_cnn(tmp_path / "model")), "image", image, target=1).attributions[0]
    random = _ig(_explainer(build_patch_cnn(tmp_path / "random", randomize=True)), "image", image, 1).attributions[0]
    # Inside the patch, where both models look (the patch mask is architecture, not a parameter):
    # outside it both maps are ~0 and would agree for the wrong reason.
    rho = spearmanr(model[PATCH].ravel(), random[PATCH].ravel()).statistic
    retrained = _ig(_explainer(build_patch_cnn(tmp_path / "again")), "image", image, 1).attributions[0]
    assert spearmanr(model[PATCH].ravel(), retrained[PATCH].ravel()).statistic > 0.99  # deterministic
    assert rho < 0.5, f"rank correlation {rho:.3f} between the model's and the randomised model's maps"


def test_the_training_jobs_integrated_gradients_match_captums(tmp_path: Path) -> None:
    """The job's figures (torch autograd) and the endpoint's answers (Captum) are the same attribution."""
    from training.explanations import cnn_attribute

    model_dir = build_explained_cnn(tmp_path / "cnn")
    images = np.random.default_rng(2).uniform(0, 1, (2, 3, 32, 32)).astype(np.float32)
    served = _ig(_explainer(model_dir), "image", images, target=1).attributions
    trained = cnn_attribute(model_dir / "explain.pt2")(images, np.array([1, 1]))
    np.testing.assert_allclose(trained, served, rtol=1e-3, atol=1e-5 * np.abs(served).max())
