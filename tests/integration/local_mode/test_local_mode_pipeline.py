"""`python -m local_mode --smoke`: every step's product, from the job tree to the report."""

import json
import re
import tarfile
from pathlib import Path

import pytest

from tests.helpers.local_mode import port_is_bound, processes_mentioning

pytestmark = pytest.mark.slow
MODEL_FILES = {"cnn": "model.pt2", "mlp": "saved_model/saved_model.pb"}


def test_the_job_tree_is_laid_out_as_sagemaker_lays_out_opt_ml(smoke_run):
    for model in ("cnn", "mlp"):
        config = smoke_run.output / "opt_ml" / model / "input" / "config"
        hyperparameters = json.loads((config / "hyperparameters.json").read_text())
        assert hyperparameters["model"] == model
        assert all(isinstance(value, str) for value in hyperparameters.values())
        assert json.loads((config / "resourceconfig.json").read_text())["hosts"] == ["algo-1"]
        assert set(json.loads((config / "inputdataconfig.json").read_text())) == {"train", "test"}
        data = smoke_run.output / "opt_ml" / model / "input" / "data"
        assert any(p.is_file() for p in (data / "train").rglob("*"))
        assert not (smoke_run.output / "opt_ml" / model / "output" / "failure").exists()
    assert len(list((smoke_run.output / "opt_ml" / "mlp" / "input" / "data" / "train").glob("*_*_*.wav"))) > 0


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_model_tarball_holds_the_artifact_at_its_root_and_is_unpacked_for_the_server(smoke_run, model):
    archive = smoke_run.output / "artifacts" / model / "model.tar.gz"
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name for m in tar.getmembers() if m.isfile()}
    assert {"manifest.json", MODEL_FILES[model]} <= members
    assert not any(name.startswith(("/", "./", "model/")) for name in members)
    unpacked = smoke_run.output / "model" / model
    assert {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()} == members
    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["class_names"] == [str(d) for d in range(10)]
    with tarfile.open(smoke_run.output / "artifacts" / model / "output.tar.gz", "r:gz") as tar:
        assert {"evaluation.json", "learning_curves.png", "confusion_matrix.png"} <= set(tar.getnames())


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_server_answered_every_held_out_sample(smoke_run, model):
    predictions = json.loads((smoke_run.output / "predictions" / f"{model}.json").read_text())
    held_out = smoke_run.output / "data" / "sample" / ("images" if model == "cnn" else "audio") / "held_out"
    assert sorted(p["file"] for p in predictions) == sorted(str(p) for p in held_out.rglob("*") if p.is_file())
    assert all(p["error"] is None and p["predicted"] in [str(d) for d in range(10)] for p in predictions)
    assert all(0.0 <= p["probability"] <= 1.0 and p["latency_ms"] > 0 for p in predictions)
    if model == "mlp":  # the held-out speaker never reached training
        assert {p["file"].rsplit("/", 1)[1].split("_")[1] for p in predictions} == {"cleo"}
        train = smoke_run.output / "opt_ml" / "mlp" / "input" / "data" / "train"
        assert not list(train.glob("*_cleo_*.wav"))


def test_the_report_holds_accuracy_latency_and_where_things_are(smoke_run):
    report = json.loads((smoke_run.output / "report.json").read_text())
    assert [m["model"] for m in report["models"]] == ["cnn", "mlp"] and report["port"] == smoke_run.port
    assert {"data", "train cnn", "package cnn", "train mlp", "serve cnn", "serve mlp"} <= set(report["steps_seconds"])
    for entry in report["models"]:
        predictions = json.loads((smoke_run.output / "predictions" / f"{entry['model']}.json").read_text())
        server = entry["server"]
        assert server["num_samples"] == len(predictions) == entry["held_out_samples"]
        assert server["accuracy"] == pytest.approx(
            sum(p["predicted"] == p["label"] for p in predictions) / len(predictions), abs=1e-4
        )
        # The job's evaluation.json covers the same held-out set (its test channel) with the same model.
        assert entry["training_evaluation"]["split"] == "test"
        assert entry["training_evaluation"]["num_samples"] == len(predictions)
        evaluation = entry["training_evaluation"]
        assert server["accuracy"] == pytest.approx(evaluation["accuracy"], abs=1.01 / len(predictions))
        latency = server["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert server["url"].endswith(f"/endpoints/local-{entry['model']}/invocations")
        assert entry["server_exit_code"] == 0  # drained and exited on SIGTERM
        for name in ("model.tar.gz", "evaluation.json", "training log", "server log", "predictions"):
            assert Path(entry["artifacts"][name]).exists(), name
    summary = smoke_run.result.stdout
    assert re.search(r"accuracy through the server\s+\d\.\d{3}", summary)
    assert re.search(r"p50 [\d.]+\s+p95 [\d.]+\s+p99 [\d.]+", summary)
    assert "report.json" in summary


def test_nothing_is_left_running_and_the_port_is_free(smoke_run):
    assert processes_mentioning(str(smoke_run.output)) == []
    assert not port_is_bound(smoke_run.port)


def test_a_few_held_out_items_are_explained_as_pngs_linked_from_the_report(smoke_run):
    report = json.loads((smoke_run.output / "report.json").read_text())
    for model in report["models"]:
        explanations = model["explanations"]
        assert len(explanations) == 3, model["model"]
        for explanation in explanations:
            png = Path(explanation["png"])
            assert png.is_relative_to(smoke_run.output / "explanations" / model["model"])
            assert png.read_bytes()[:4] == b"\x89PNG"
            assert f"explained {Path(explanation['file']).name}" in smoke_run.result.stdout
        assert f"[explain {model['model']}]" in smoke_run.result.stdout
    # the training job's own figures travel in output.tar.gz
    with tarfile.open(smoke_run.output / "artifacts" / "cnn" / "output.tar.gz") as archive:
        assert "explanations/cnn_class_means.png" in {m.name.lstrip("./") for m in archive.getmembers()}


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_server_captured_every_request_and_the_monitor_reports_on_them(smoke_run, model, tmp_path):
    """`make monitor`'s command on this run's captures: every request captured, a report written."""
    from monitor.cli import main as monitor_main

    predictions = json.loads((smoke_run.output / "predictions" / f"{model}.json").read_text())
    out = tmp_path / "monitor"
    args = [
        "--model-dir",
        str(smoke_run.output / "model" / model),
        "--captures",
        str(smoke_run.output / "captures" / model),
    ]
    assert monitor_main([*args, "--output", str(out), "--min-window", "10"]) == 0
    report = json.loads((out / "drift.json").read_text())
    # every counted request and the one warm-up request (local_mode.invocation) before them
    assert report["window"]["captures"] == len(predictions) + 1 and report["window"]["bad_lines"] == 0
    assert report["status"] in ("ok", "window_too_small"), report["message"]
    assert (out / "drift.png").is_file() and (out / "metrics.json").is_file()
