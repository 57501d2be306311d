"""The container's `train` program against an /opt/ml-shaped tree, as SageMaker runs it."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.opt_ml import make_opt_ml
from tests.helpers.synthetic import write_fsdd_folder, write_image_folder

ROOT = Path(__file__).resolve().parents[3]
TRAIN_PROGRAM = ROOT / "training" / "train"
METRIC_DEFINITIONS = json.loads((ROOT / "training" / "metric_definitions.json").read_text())


def run_train(tree, timeout=300):
    environ = {**os.environ, **tree.environ(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([str(TRAIN_PROGRAM), "train"], env=environ, capture_output=True, text=True, timeout=timeout)


def scraped_metrics(log: str) -> dict[str, list[float]]:
    """What SageMaker would scrape from the log with the metric definitions."""
    return {d["Name"]: [float(v) for v in re.findall(d["Regex"], log)] for d in METRIC_DEFINITIONS}


def check_outputs(tree, result, epochs, num_classes):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not (tree.output_dir / "failure").exists()
    manifest = json.loads((tree.model_dir / "manifest.json").read_text())
    evaluation = json.loads((tree.output_data_dir / "evaluation.json").read_text())
    assert len(manifest["class_names"]) == num_classes
    assert manifest["hyperparameters"]["epochs"] == epochs
    assert evaluation["accuracy"] > 1.5 / num_classes, evaluation  # well above chance
    assert np.asarray(evaluation["confusion_matrix"]).sum() == evaluation["num_samples"]
    for plot in ("learning_curves.png", "confusion_matrix.png"):
        assert (tree.output_data_dir / plot).read_bytes()[:4] == b"\x89PNG"
    metrics = scraped_metrics(result.stdout)
    assert len(metrics["validation:accuracy"]) == epochs
    assert metrics["final:accuracy"] == [pytest.approx(evaluation["accuracy"], abs=1e-4)]
    return manifest, evaluation


def check_explanations(tree, evaluation, manifest, figures):
    """The job's explanation figures: evaluation.json's block, its PNGs, the manifest's explanation path."""
    assert manifest["explanation"]["output"] == "logits"
    block = evaluation["explanations"]
    assert block["method"] == "integrated_gradients" and block["steps"] == 32
    assert set(block["per_class"]) == set(manifest["class_names"])
    assert sum(c["correct_explained"] for c in block["per_class"].values()) > 0
    for figure in figures:
        assert figure in block["figures"]
        assert (tree.output_data_dir / "explanations" / figure).read_bytes()[:4] == b"\x89PNG"
    return block


# A few items, few steps and a generous budget: every attack is measured even on a busy machine.
SMALL_SECURITY = {"security_samples": "12", "security_pgd_steps": "2", "security_budget_s": "120"}


def check_security(tree, evaluation, attacks, budgets):
    """The job's security block (on by default): robustness per attack and budget, membership
    inference on train vs held-out, the figure, within its time budget."""
    security = evaluation["security"]
    assert "error" not in security, security
    robustness, privacy = security["robustness"], security["privacy"]
    assert robustness["samples"] > 0 and 0 <= robustness["clean_accuracy"] <= 1
    # Every attack at every budget is measured, or listed as dropped because the budget ran short (a
    # busy machine); the gate's figure, PGD at the smallest budget, comes first and is always there.
    measured = {f"{attack}@{label}" for attack, by in robustness["accuracy"].items() for label in by}
    assert measured | set(robustness.get("not_measured", [])) == {f"{a}@{b}" for a in attacks for b in budgets}
    assert f"pgd@{budgets[0]}" in measured
    assert privacy["members"] == privacy["non_members"] > 0
    for attack in ("loss_threshold", "black_box"):
        assert 0 <= privacy[attack]["auc"] <= 1 and -1 <= privacy[attack]["advantage"] <= 1
    assert privacy["auc"] == max(privacy["loss_threshold"]["auc"], privacy["black_box"]["auc"])
    assert security["toolbox"].startswith("adversarial-robustness-toolbox ")
    assert (tree.output_data_dir / security["figure"]).read_bytes()[:4] == b"\x89PNG"
    assert security["elapsed_s"] <= security["budget_s"] + 5  # the plan fits the budget (slack: noisy machine)
    return security


@pytest.mark.slow
def test_cnn_trains_on_images_and_writes_a_loadable_artifact(tmp_path):
    import torch

    tree = make_opt_ml(
        tmp_path / "ml",
        {"model": "cnn", "epochs": "4", "batch_size": "16", "width": "8", **SMALL_SECURITY},
        channels=("train", "test"),
    )
    write_image_folder(tree.channel("train"), per_class=30, seed=0)
    write_image_folder(tree.channel("test"), per_class=10, seed=1)
    manifest, evaluation = check_outputs(tree, run_train(tree), epochs=4, num_classes=3)
    assert evaluation["split"] == "test" and evaluation["num_samples"] == 30
    assert manifest["framework"] == "pytorch" and manifest["input"]["height"] == 32
    model = torch.export.load(str(tree.model_dir / manifest["model_file"])).module()
    probabilities = model(torch.rand(5, 3, 32, 32))
    assert probabilities.shape == (5, 3)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(5))
    check_explanations(tree, evaluation, manifest, ["cnn_class_means.png"])
    security = check_security(tree, evaluation, ["fgsm", "pgd"], ["1/255", "2/255", "4/255", "8/255"])
    robustness = security["robustness"]
    assert robustness["pgd_steps"] == {"1/255": 2, "2/255": 2, "4/255": 2, "8/255": 4}  # the largest: twice
    if "corruptions" in robustness:  # else dropped by the budget, and listed (check_security)
        assert robustness["corruptions"]["severity"] == 3
    explain = torch.export.load(str(tree.model_dir / manifest["explanation"]["model_file"])).module()
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    (gradient,) = torch.autograd.grad(explain(image)[0, 0], image)  # differentiable from the input
    assert gradient.abs().sum() > 0


@pytest.mark.slow
def test_mlp_trains_on_spoken_digit_style_wavs_and_writes_a_loadable_artifact(tmp_path):
    import tensorflow as tf

    tree = make_opt_ml(tmp_path / "ml", {"model": "mlp", "epochs": "6", "batch_size": "16", **SMALL_SECURITY})
    write_fsdd_folder(tree.channel("train"), per_speaker=8)
    manifest, evaluation = check_outputs(tree, run_train(tree), epochs=6, num_classes=3)
    assert evaluation["split"] == "validation"
    audio = manifest["input"]
    assert audio["sample_rate"] == 8000 and audio["signatures"] == {"waveform": "serve", "features": "serve_features"}
    loaded = tf.saved_model.load(str(tree.model_dir / manifest["model_file"]))
    waveform = loaded.serve(tf.zeros((2, audio["num_samples"])))
    features = loaded.serve_features(tf.zeros((2, *audio["feature_shape"])))
    assert waveform.shape == (2, 3) and features.shape == (2, 3)
    block = check_explanations(tree, evaluation, manifest, ["mlp_attributions.png"])
    check_security(tree, evaluation, ["pgd", "noise"], ["40dB", "30dB", "20dB"])
    assert len(block["frames"]) == audio["feature_shape"][0] and len(block["coefficients"]) == audio["feature_shape"][1]
    assert sum(block["frames"]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_a_failure_writes_the_reason_and_exits_non_zero(tmp_path):
    tree = make_opt_ml(tmp_path / "ml", {"model": "cnn", "epochs": "ten"})
    result = run_train(tree)
    assert result.returncode == 1
    assert "'epochs' must be an integer, got 'ten'" in tree.failure_file.read_text()
