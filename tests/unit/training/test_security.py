"""The security evaluation's measurements on toy models whose answers are known (tiny data, seconds).

Robustness: a linear image classifier exported with torch.export like the CNN's serving program, and a
linear waveform classifier saved as a SavedModel with a `serve` signature like the MLP's; both
undefended, so PGD within budget flips them and epsilon 0 flips nothing. Privacy: a model that
memorised random labels (members are obvious) and a model that never saw the members (a coin toss).
"""

from __future__ import annotations

import numpy as np
import pytest
from training.errors import ConfigError
from training.hyperparameters import parse_hyperparameters
from training.security import privacy, robustness
from training.security.budgets import Budget, parse_eps, parse_snr
from training.security.estimators import predict

SIZE = 8  # toy images are 3 x 8 x 8
MARGIN = 0.02  # class means are 0.5 -/+ MARGIN: an L-inf shift of 8/255 (0.031) crosses it, 1/255 rarely


def toy_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    means = np.where(labels == 1, 0.5 + MARGIN, 0.5 - MARGIN)
    images = means[:, None, None, None] + rng.normal(0, 0.01, (n, 3, SIZE, SIZE))
    return np.clip(images, 0, 1).astype(np.float32), labels


@pytest.fixture(scope="module")
def image_classifier(tmp_path_factory):
    """A served program as training exports one: [0, 1] NCHW in, softmax probabilities out."""
    import torch
    from training.security.estimators import cnn_classifier

    class MeanBrightness(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            score = 200.0 * (x.mean(dim=(1, 2, 3)) - 0.5)
            return torch.softmax(torch.stack([-score, score], dim=1), dim=1)

    path = tmp_path_factory.mktemp("toy-cnn") / "model.pt2"
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(MeanBrightness(), (torch.rand(2, 3, SIZE, SIZE),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))
    return cnn_classifier(path, num_classes=2, image_size=SIZE)


def test_pgd_within_budget_defeats_an_undefended_image_model_and_eps_0_changes_nothing(image_classifier):
    images, labels = toy_images(64)
    clean = robustness.accuracy(predict(image_classifier, images), labels)
    budgets = (Budget("0", 0.0), Budget("1/255", 1 / 255), Budget("8/255", 8 / 255))
    results = robustness.image_attacks(image_classifier, images, labels, budgets, steps=5, long_steps=10)
    assert clean == 1.0
    assert results["pgd"]["0"] == clean and results["fgsm"]["0"] == clean
    assert results["pgd"]["8/255"] <= 0.1 and results["fgsm"]["8/255"] <= 0.1
    assert results["pgd"]["1/255"] >= 0.8  # well inside the margin


def test_corruptions_are_seeded_and_reported_per_name(image_classifier):
    images, labels = toy_images(16)
    first = robustness.image_corruptions(image_classifier, images, labels, severity=3)
    assert first == robustness.image_corruptions(image_classifier, images, labels, severity=3)
    assert set(first["accuracy"]) >= {"gaussian_noise", "contrast", "jpeg_compression", "pixelate"}
    assert first["severity"] == 3 and 0 <= first["mean_accuracy"] <= 1


NUM_SAMPLES = 800
SIGNAL_SHARE = 0.05  # of each clip's norm along the template: a 20 dB perturbation (10%) flips it, 40 dB (1%) not


def toy_waveforms(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    template = np.sin(np.linspace(0, 40 * np.pi, NUM_SAMPLES))
    template /= np.linalg.norm(template)
    noise = rng.normal(0, 1, (n, NUM_SAMPLES))
    noise -= (noise @ template)[:, None] * template  # orthogonal to the template
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    labels = rng.integers(0, 2, n)
    sign = np.where(labels == 1, 1.0, -1.0)
    clips = 0.3 * (noise + (SIGNAL_SHARE * sign)[:, None] * template)
    return clips.astype(np.float32), labels, template.astype(np.float32)


@pytest.fixture(scope="module")
def waveform_classifier(tmp_path_factory):
    """A SavedModel with the MLP's `serve` endpoint: waveforms in, probabilities out."""
    import tensorflow as tf
    from training.security.estimators import mlp_classifier

    _, _, template = toy_waveforms(1)

    class Correlator(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.template = tf.Variable(template)

        @tf.function(input_signature=[tf.TensorSpec([None, NUM_SAMPLES], tf.float32)])
        def serve(self, waveform: tf.Tensor) -> tf.Tensor:
            score = 1000.0 * tf.linalg.matvec(waveform, self.template)
            return tf.nn.softmax(tf.stack([-score, score], axis=1))

    path = tmp_path_factory.mktemp("toy-mlp") / "saved_model"
    module = Correlator()
    tf.saved_model.save(module, str(path), signatures={"serve": module.serve})
    return mlp_classifier(path, num_classes=2, input_shape=(NUM_SAMPLES,))


def test_waveform_pgd_at_20_db_defeats_an_undefended_model_and_keeps_its_snr(waveform_classifier):
    clips, labels, _ = toy_waveforms(32)
    assert robustness.accuracy(predict(waveform_classifier, clips), labels) == 1.0
    budgets = parse_snr("security_snr_db", "40,20")
    results = robustness.waveform_attacks(waveform_classifier, clips, labels, budgets, steps=10)
    assert results["pgd"]["40dB"] == 1.0
    assert results["pgd"]["20dB"] <= 0.1
    assert results["noise"]["20dB"] >= 0.8  # random noise of the same power rarely points at the template
    assert results["measured_snr_db"]["pgd"]["20dB"] >= 20 - 0.01  # the budget holds


def test_an_overfit_model_leaks_membership_and_an_unseen_one_does_not():
    from art.estimators.classification import SklearnClassifier
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 10)).astype(np.float32)
    y = rng.integers(0, 3, 600)  # random labels: only memorising fits them
    members, non_members, fresh = slice(0, 200), slice(200, 400), slice(400, 600)
    overfit = RandomForestClassifier(n_estimators=30, random_state=0).fit(x[members], y[members])
    estimator = SklearnClassifier(overfit)

    def figures(model, m, n):
        pm, pn = model.predict_proba(x[m]), model.predict_proba(x[n])
        loss = privacy.loss_threshold(pm, y[m], pn, y[n])
        black = privacy.black_box(estimator, pm, y[m], pn, y[n])
        return loss, black

    loss, black = figures(overfit, members, non_members)
    assert loss["auc"] > 0.9 and black["auc"] > 0.75 and loss["advantage"] > 0.6
    never_trained = RandomForestClassifier(n_estimators=30, random_state=0).fit(x[fresh], y[fresh])
    loss, black = figures(never_trained, members, non_members)
    assert abs(loss["auc"] - 0.5) < 0.1 and abs(black["auc"] - 0.5) < 0.1


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"security_eps": "-1/255,2/255"}, "security_eps"),
        ({"security_eps": "2/255,two"}, "security_eps"),
        ({"security_eps": ""}, "security_eps"),
        ({"security_samples": "0"}, "security_samples"),
        ({"security_budget_s": "0"}, "security_budget_s"),
        ({"security_severity": "6"}, "security_severity"),
        ({"adversarial_fraction": "1"}, "adversarial_fraction"),
        ({"security_snr_db": "30,-40"}, "security_snr_db"),
    ],
)
def test_bad_security_hyperparameters_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        parse_hyperparameters({"model": "cnn", **raw})


def test_budgets_parse_fractions_and_sort():
    assert [b.value for b in parse_eps("k", "8/255, 1/255")] == [1 / 255, 8 / 255]
    assert [b.label for b in parse_snr("k", "20,40,30")] == ["40dB", "30dB", "20dB"]
    assert robustness.pgd_steps(parse_eps("k", "1/255,2/255,4/255,8/255"), 10, 20) == {
        "1/255": 10,
        "2/255": 10,
        "4/255": 10,
        "8/255": 20,
    }


def test_adversarial_training_makes_pgd_examples_within_eps_in_the_last_fraction_only():
    import torch
    from training.security.adversarial_training import adversarial_phase, pgd_examples

    assert not adversarial_phase(0.49, 0.5) and adversarial_phase(0.5, 0.5) and not adversarial_phase(0.99, 0.0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * SIZE * SIZE, 2))
    images, labels = (torch.from_numpy(a) for a in toy_images(32))
    eps = 4 / 255
    adversarial = pgd_examples(model, images, labels, eps, steps=3, generator=torch.Generator().manual_seed(0))
    assert float((adversarial - images).abs().max()) <= eps + 1e-6
    assert float(adversarial.min()) >= 0 and float(adversarial.max()) <= 1
    loss = torch.nn.functional.cross_entropy
    assert float(loss(model(adversarial), labels)) > float(loss(model(images), labels))
    assert all(p.grad is None for p in model.parameters())  # the weights' gradients are untouched
