"""The open-loop benchmark's parsing, knee and time scaling, without tsung (made-up dumps). Its replay over
a loopback server: tests/contract/bench/test_open_loop_replay.py."""

import numpy as np

from benchmarks import open_loop, open_loop_replay

DUMP_HEADER = "#date;pid;id;http method;host;URL;HTTP status;size;duration;transaction;match;error;tag\n"


def test_the_dump_gives_start_time_duration_and_success(tmp_path):
    dump = tmp_path / "tsung.dump"
    dump.write_text(
        DUMP_HEADER + "100.050;<0.1.0>;1;post;h;/invocations;200;9;50.0;-;;;\n"
        "101.000;<0.2.0>;2;post;h;/invocations;500;9;10.0;-;;;\n"
    )
    rows = open_loop.parse_dump(dump)
    assert rows[:, 0].tolist() == [100.0, 100.99] and rows[:, 2].tolist() == [1.0, 0.0]


def test_phases_and_the_knee_at_the_achieved_rate():
    # Phase 1 (10 s): 100 requests of 20 ms; phase 2: 180 requests, 1% at 500 ms (p99 over 100 ms).
    first = [(i * 0.1, 20.0, 1.0) for i in range(100)]
    second = [(10 + i / 18, 500.0 if i % 50 == 0 else 20.0, 1.0) for i in range(180)]
    points = open_loop.phases(np.asarray(first + second), (10, 20), 10, slo_ms=100)
    assert [p["achieved_rps"] for p in points] == [10.0, 18.0]
    assert [p["within_slo"] for p in points] == [True, False]
    assert open_loop.knee(points) == 10.0


def test_the_tsung_config_has_one_poisson_phase_per_rate(tmp_path):
    text = open_loop.tsung_config(8080, tmp_path / "b.json", "application/json", (40, 80), 15)
    assert text.count("<arrivalphase") == 2 and 'arrivalrate="80"' in text and 'dumptraffic="protocol"' in text


def test_time_scaling_keeps_the_shape_and_sets_the_mean_rate():
    arrivals = np.array([0.0, 1.0, 1.5, 4.0])  # 4 requests over 4 s
    scaled = open_loop_replay.time_scaled(arrivals, mean_rps=2.0, max_seconds=100)
    assert np.allclose(scaled, arrivals / 2)
