"""`python -m monitor` on real files: every bad window is a clear report with no alarm, never a crash."""

import json

import pytest

from monitor.cli import main
from monitor.run import MonitorSettings, monitor
from tests.helpers.monitor_fixtures import CLASSES, make_artifact, write_captures

SETTINGS = MonitorSettings(min_window=20, permutations=100)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_artifact(tmp_path_factory.mktemp("artifact"))


def test_an_unshifted_window_runs_every_test_and_raises_no_alarm(artifact, tmp_path):
    write_captures(tmp_path / "c" / "a.jsonl", artifact, 120)
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "ok", report["message"]
    assert set(report["tests"]) == {"embedding_mmd", "softmax_ks", "class_mix_chi2", "input_statistics_ks"}
    assert report["drift"] is False
    assert report["window"]["rows"] == 120 and report["window"]["image_sizes"] == {"8x8": 120}


def test_a_brighter_window_is_drift(artifact, tmp_path):
    write_captures(tmp_path / "c" / "a.jsonl", artifact, 120, brightness=0.75)
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "ok" and report["drift"] is True
    assert "input_statistics_ks" in report["signals"]


def test_an_empty_window(artifact, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "empty.jsonl").write_text("")
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "empty_window" and report["drift"] is False and "tests" not in report


def test_a_window_below_the_minimum(artifact, tmp_path):
    write_captures(tmp_path / "c" / "a.jsonl", artifact, 5)
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "window_too_small" and report["drift"] is False
    assert "5 inputs" in report["message"] and "20" in report["message"]


def test_a_capture_file_that_is_not_json_lines(artifact, tmp_path):
    bad = tmp_path / "c" / "x.jsonl"
    bad.parent.mkdir()
    bad.write_bytes(b'\x89PNG\r\n\x1a\n not json at all\n{"half": ')
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "unreadable_captures" and report["drift"] is False
    assert str(bad) in report["message"]


def test_bad_lines_among_good_ones_are_counted_and_named(artifact, tmp_path):
    path = tmp_path / "c" / "a.jsonl"
    write_captures(path, artifact, 30)
    with path.open("a") as out:
        out.write("garbage\n")
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "ok" and report["window"]["bad_lines"] == 1
    assert any(f"{path}:31" in p for p in report["window"]["problems"])


def test_captures_from_another_model_version_are_left_out(artifact, tmp_path):
    write_captures(tmp_path / "c" / "old.jsonl", artifact, 60, brightness=0.9, version="0123456789abcdef")
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "no_matching_captures" and report["drift"] is False
    write_captures(tmp_path / "c" / "new.jsonl", artifact, 60, seed=2)
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "ok" and report["window"]["other_model_version"] == 60
    assert report["window"]["rows"] == 60 and report["drift"] is False  # the bright old ones are not in it


def test_an_old_artifact_without_a_reference(tmp_path):
    old = make_artifact(tmp_path / "old", with_profile=False)
    write_captures(tmp_path / "c" / "a.jsonl", old, 60)
    report = monitor(old, [tmp_path / "c"], None, SETTINGS)
    assert report["status"] == "no_reference" and report["drift"] is False
    assert "reference_profile.json" in report["message"]


def test_labels_give_accuracy_and_macro_f1(artifact, tmp_path):
    ids = write_captures(tmp_path / "c" / "a.jsonl", artifact, 40)
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS)
    labels = tmp_path / "labels.csv"
    lines = ["inference_id,label"] + [f"{i},{CLASSES[0]}" for i in ids[:30]]
    labels.write_text("\n".join(lines) + "\n")
    report = monitor(artifact, [tmp_path / "c"], labels, SETTINGS)
    assert report["quality"]["labelled"] == 30
    assert 0.0 <= report["quality"]["accuracy"] <= 1.0


def test_the_cli_writes_json_png_and_metrics_for_every_status(artifact, tmp_path):
    (tmp_path / "c").mkdir()
    out = tmp_path / "out"
    assert main(["--model-dir", str(artifact), "--captures", str(tmp_path / "c"), "--output", str(out)]) == 0
    assert json.loads((out / "drift.json").read_text())["status"] == "empty_window"
    assert (out / "drift.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {m["MetricName"] for m in metrics} == {"WindowSize", "WindowUsable"}
    write_captures(tmp_path / "c" / "a.jsonl", artifact, 60)
    assert (
        main(
            [
                "--model-dir",
                str(artifact),
                "--captures",
                str(tmp_path / "c"),
                "--output",
                str(out),
                "--min-window",
                "20",
            ]
        )
        == 0
    )
    names = {m["MetricName"] for m in json.loads((out / "metrics.json").read_text())}
    assert {"EmbeddingDriftPValue", "ClassMixDistance", "Drift", "WindowSize"} <= names


def test_the_cli_refuses_a_folder_that_is_no_artifact(tmp_path, capsys):
    assert main(["--model-dir", str(tmp_path), "--captures", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert "not a model artifact" in capsys.readouterr().err
