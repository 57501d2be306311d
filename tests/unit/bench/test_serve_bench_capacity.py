"""The capacity figure: which measured points sustain the SLO, and the file the infrastructure reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.serve_report import capacity_entry, max_sustainable_rps, sustains
from infra.settings import read_capacity_file


def point(rps: float, p99: float, errors: int = 0, target: float | None = None) -> dict:
    out = {"concurrency": 64, "rps": rps, "p50_ms": p99 / 2, "p95_ms": p99, "p99_ms": p99, "ok": 100, "errors": errors}
    if target is not None:
        out["target_rps"] = target
    return out


def test_the_highest_rate_whose_p99_meets_the_slo_wins() -> None:
    points = [point(900, 140.0), point(700, 95.0), point(500, 40.0)]
    rps, best = max_sustainable_rps(points, 100.0)
    assert rps == 700
    assert best is points[1]


def test_points_with_errors_or_a_missed_paced_target_do_not_count() -> None:
    assert not sustains(point(800, 50.0, errors=1), 100.0)
    assert not sustains(point(700, 50.0, target=800.0), 100.0)  # fell behind the pacing: overloaded
    assert sustains(point(780, 50.0, target=800.0), 100.0)
    assert not sustains({**point(500, float("nan"))}, 100.0)


def test_no_sustainable_point_gives_zero_not_the_best_failure() -> None:
    assert max_sustainable_rps([point(900, 300.0)], 100.0) == (0.0, None)


def test_the_entry_has_the_shape_infra_settings_reads(tmp_path: Path) -> None:
    entry = capacity_entry(712.345, 100.0, "ml.c5.large", "2026-11-28", source="paced hey")
    assert entry["max_rps_per_instance"] == pytest.approx(712.3)
    assert entry["p99_slo_ms"] == 100 and isinstance(entry["p99_slo_ms"], int)
    assert {"max_rps_per_instance", "p99_slo_ms", "instance_type", "measured_at"} <= entry.keys()
    path = tmp_path / "serving_capacity.json"
    path.write_text(json.dumps({"cnn": entry, "mlp": entry}))
    assert read_capacity_file(path)["cnn"]["max_rps_per_instance"] == pytest.approx(712.3)


def test_capacity_is_not_written_from_a_run_on_a_busy_machine() -> None:
    from benchmarks.serve_bench import busy_before

    line = " 01:16:05 up 37 min,  0 user,  load average: 11.34, 13.01, 11.75"
    assert "11.34" in (busy_before(line, 2.0) or "")
    assert busy_before(line.replace("11.34", "0.90"), 2.0) is None
