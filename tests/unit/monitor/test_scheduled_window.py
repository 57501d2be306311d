"""The scheduled job's side of `python -m monitor` (infra/components/drift_monitor.py): only the captures of
the time window count, and the model arrives as the `model.tar.gz` the processing job downloads."""

import json
import tarfile

import pytest

from monitor.cli import main
from monitor.run import MonitorSettings, monitor
from monitor.window import TimeWindow, parse_time
from tests.helpers.monitor_fixtures import make_artifact, write_captures

SETTINGS = MonitorSettings(min_window=20, permutations=100)
WINDOW = TimeWindow(end=parse_time("2026-12-07T04:30:00.000Z"), hours=6)  # [12-06 22:30, 12-07 04:30)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_artifact(tmp_path_factory.mktemp("artifact"))


def retime(path, time: str) -> None:
    """Every record of `path` captured at `time` (the capture writes the current time)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record["eventMetadata"]["inferenceTime"] = time
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_window_holds_its_start_and_not_its_end():
    assert WINDOW.contains("2026-12-06T22:30:00.000Z") and WINDOW.contains("2026-12-07T04:29:59.999Z")
    assert not WINDOW.contains("2026-12-07T04:30:00Z") and not WINDOW.contains("2026-12-06T22:29:59Z")
    assert not WINDOW.contains(None) and not WINDOW.contains("yesterday")


def test_only_captures_inside_the_window_count(artifact, tmp_path):
    write_captures(tmp_path / "c" / "2026-12-07" / "a.jsonl", artifact, 60)
    retime(tmp_path / "c" / "2026-12-07" / "a.jsonl", "2026-12-07T03:10:00.000Z")
    # Bright captures of the day before, outside the window: they would be drift if they counted.
    write_captures(tmp_path / "c" / "2026-12-06" / "b.jsonl", artifact, 60, brightness=0.9, seed=3)
    retime(tmp_path / "c" / "2026-12-06" / "b.jsonl", "2026-12-06T20:00:00.000Z")
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS, WINDOW)
    assert report["status"] == "ok" and report["drift"] is False
    assert report["window"]["rows"] == 60 and report["window"]["outside_time_window"] == 60
    assert report["time_window"]["hours"] == 6 and report["time_window"]["end"].startswith("2026-12-07T04:30")


def test_a_window_whose_captures_all_lie_outside_it_is_empty_and_raises_no_alarm(artifact, tmp_path):
    write_captures(tmp_path / "c" / "a.jsonl", artifact, 60)
    retime(tmp_path / "c" / "a.jsonl", "2026-12-06T10:00:00.000Z")
    report = monitor(artifact, [tmp_path / "c"], None, SETTINGS, WINDOW)
    assert report["status"] == "empty_window" and report["drift"] is False and "tests" not in report
    assert "60 outside the time window" in report["message"]


def test_the_cli_unpacks_the_jobs_model_tarball_and_keeps_the_window(artifact, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    with tarfile.open(model / "model.tar.gz", "w:gz") as archive:
        for path in artifact.iterdir():
            archive.add(path, arcname=path.name)
    write_captures(tmp_path / "c" / "a.jsonl", artifact, 40)
    retime(tmp_path / "c" / "a.jsonl", "2026-12-07T01:00:00Z")
    out = tmp_path / "out"
    argv = ["--model-dir", str(model), "--captures", str(tmp_path / "c"), "--output", str(out), "--min-window", "20"]
    assert main([*argv, "--window-end", "2026-12-07T04:30:00.000Z", "--window-hours", "6"]) == 0
    report = json.loads((out / "drift.json").read_text())
    assert report["status"] == "ok" and report["window"]["rows"] == 40
    assert main([*argv, "--window-end", "2026-12-07T00:30:00Z", "--window-hours", "1"]) == 0
    assert json.loads((out / "drift.json").read_text())["status"] == "empty_window"


def test_the_window_flags_go_together(artifact, tmp_path, capsys):
    argv = ["--model-dir", str(artifact), "--captures", str(tmp_path), "--output", str(tmp_path / "o")]
    assert main([*argv, "--window-end", "2026-12-07T04:30:00Z"]) == 2
    assert "go together" in capsys.readouterr().err
    assert main([*argv, "--window-end", "not a time", "--window-hours", "6"]) == 2


@pytest.mark.parametrize("with_filter", [True, False])
def test_a_model_tarball_with_a_member_outside_the_folder_is_refused(tmp_path, monkeypatch, with_filter):
    import io
    import tarfile as tarfile_module

    from monitor.window import model_dir

    if not with_filter:  # Debian bookworm's Python 3.11.2, the local images' base, has no extraction filters
        monkeypatch.delattr(tarfile_module, "data_filter")
    (tmp_path / "model").mkdir()
    with tarfile_module.open(tmp_path / "model" / "model.tar.gz", "w:gz") as archive:
        info = tarfile_module.TarInfo("../escaped.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises((ValueError, tarfile_module.TarError)):
        model_dir(tmp_path / "model")
    assert not (tmp_path / "escaped.txt").exists()
