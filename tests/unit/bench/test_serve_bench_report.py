"""Ratios to the raw model, the issue's target checks and the write-up (benchmarks.serve_report)."""

from __future__ import annotations

import pytest

from benchmarks.serve_raw import best_per_batch
from benchmarks.serve_report import check_targets, markdown, peer_wins, ratio_to_raw

RAW = {
    "batches": {
        "1": {"items_per_s": 100.0, "forward_ms_p50": 10.0, "forward_ms_p99": 11.0},
        "32": {"items_per_s": 1000.0, "forward_ms_p50": 32.0, "forward_ms_p99": 35.0},
    }
}


def load(c: int, rps: float, p99: float) -> dict:
    return {"concurrency": c, "rps": rps, "p50_ms": p99 / 2, "p95_ms": p99, "p99_ms": p99, "ok": 10, "errors": 0}


def model(ours: list[dict], theirs: list[dict], missing: str | None = None) -> dict:
    peers: dict = {"litserve": {"name": "LitServe", "version": "0.2.19", "points": theirs}}
    if missing is not None:
        peers["torchserve"] = {"name": "TorchServe", "missing": missing}
    return {
        "description": "test",
        "server": ours,
        "peers": peers,
        "raw": RAW,
        "probes": [],
        "ratio_to_raw": ratio_to_raw(ours, RAW),
        "capacity": {"rps": 500.0, "slo_ms": 100.0, "source": "x"},
    }


def test_ratio_divides_by_the_raw_batch_of_the_same_size_and_skips_unmeasured_ones() -> None:
    ratios = ratio_to_raw([load(1, 90.0, 12.0), load(32, 850.0, 60.0), load(8, 1.0, 1.0)], RAW)
    assert ratios[1] == pytest.approx(0.9)
    assert ratios[32] == pytest.approx(0.85)
    assert ratios[8] is None


def test_targets_pass_when_every_figure_is_good() -> None:
    checks = check_targets(
        model([load(1, 90.0, 11.9), load(32, 850.0, 60.0)], [load(1, 80.0, 15.0), load(32, 600.0, 90.0)])
    )
    assert all(c["met"] for c in checks), checks


def test_each_target_fails_on_its_own_figure() -> None:
    checks = check_targets(
        model([load(1, 90.0, 12.5), load(32, 700.0, 95.0)], [load(1, 95.0, 15.0), load(32, 600.0, 90.0)])
    )
    by_name = {c["target"]: c["met"] for c in checks}
    assert by_name["server/raw >= 0.8 at concurrency 32"] is False  # 700 / 1000
    assert by_name["throughput above every peer at every concurrency"] is False  # 90 < 95 at c=1
    assert by_name["p99 no worse than every peer at every concurrency"] is False  # 95 > 90 at c=32
    # 12.5 ms against the raw forward's p99 of 11 ms: more than 1 ms over
    assert by_name["p99 at concurrency 1 within 1 ms of the raw single-item forward's p99"] is False
    assert peer_wins(model([load(1, 90.0, 12.5)], [load(1, 95.0, 15.0)])) == ["LitServe c=1: 95 vs 90 req/s"]


def test_a_missing_peer_is_listed_with_its_reason_and_judged_on_nothing() -> None:
    m = model([load(1, 90.0, 11.5), load(32, 850.0, 60.0)], [], missing="`java` is not on PATH")
    checks = check_targets(m)
    assert not any("peer" in c["target"] for c in checks)  # no peer ran: no peer target to meet or miss
    m["targets"] = checks
    text = markdown({"meta": META, "models": {"cnn": m}})
    assert "- TorchServe: `java` is not on PATH" in text
    assert "Where a peer is ahead: nowhere." in text


def test_the_raw_reference_takes_the_best_thread_setting_per_batch() -> None:
    best = best_per_batch(
        {
            "2": {"1": {"items_per_s": 7.0}, "32": {"items_per_s": 280.0}},
            "1": {"1": {"items_per_s": 93.0}, "32": {"items_per_s": 210.0}},
        }
    )
    assert best["1"] == {"items_per_s": 93.0, "threads": 1}
    assert best["32"] == {"items_per_s": 280.0, "threads": 2}


META = {
    "date": "2026-11-28",
    "machine": "2 vCPU",
    "load_note": "n",
    "uptime_before": "a",
    "uptime_after": "b",
    "server_config": "s",
    "peers": [{"key": "litserve", "name": "LitServe", "config": "c"}],
    "load_generator": "hey",
    "seconds_per_point": 12.0,
    "warmup_seconds": 4.0,
    "peer_concurrency": [1, 8, 32],
}


def test_markdown_has_one_row_per_concurrency_with_every_server_that_ran() -> None:
    m = model([load(1, 90.0, 11.5), load(32, 850.0, 60.0)], [load(1, 80.0, 15.0), load(32, 600.0, 90.0)])
    m["server"][1]["client_cpu_s"] = 6.0
    m["targets"] = check_targets(m)
    text = markdown({"meta": META, "models": {"cnn": m}})
    assert "| concurrency | raw items/s (batch = c) | inference server | LitServe 0.2.19 |" in text
    assert "| 32 | 1000 | 850 (30.0 / 60.0) 0.85x | 600 (45.0 / 90.0) 0.60x |" in text
    assert "| 8 | - | - | - |" in text  # measured by nobody: no row is made up
    assert "| 32 | 850.0 | 30.0 | 60.0 | 60.0 | 0 | 1000.0 | 0.85 | 0.50 |" in text  # hey: 6 CPU s in 12 s
    assert "**500.0 req/s per instance**" in text
