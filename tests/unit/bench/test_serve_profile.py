"""The serving profile's arithmetic (benchmarks.serve_profile): py-spy's collapsed stacks, /proc counters."""

from __future__ import annotations

import os

from benchmarks.serve_profile import combine, gil_profile, module_shares, per_request, thread_counters

RAW = """thread (1): MainThread;run (asyncio/runners.py:118);predict (inference/batching.py:112) 6
thread (2): model-forward;_serve (inference/batching.py:211);_notify (inference/batching.py:72) 3
thread (2): model-forward;_serve (inference/batching.py:211);_notify (inference/batching.py:73) 1
thread (1): MainThread;data_received (inference/protocol.py:131) 2
not a sample line
"""


def test_self_time_is_counted_on_the_leaf_frame_whatever_its_line() -> None:
    top = gil_profile(RAW)
    assert top[0] == {"function": "predict (inference/batching.py)", "share": 0.5}
    assert top[1] == {"function": "_notify (inference/batching.py)", "share": 0.333}
    shares = module_shares(RAW)
    assert shares["micro-batcher (queue, turns, wake-ups)"] == 0.833
    assert shares["header-timeout protocol"] == 0.167


def test_thread_counters_read_this_process_and_divide_by_requests() -> None:
    counters = thread_counters(os.getpid())
    assert counters and all(row["cpu_s"] >= 0 and row["switches"] >= 0 for row in counters.values())
    before = {"python": {"cpu_s": 1.0, "switches": 10.0}}
    after = {"python": {"cpu_s": 1.5, "switches": 30.0}, "idle": {"cpu_s": 0.0, "switches": 0.0}}
    assert per_request(before, after, 1000) == {"python": {"cpu_us_per_request": 500.0, "switches_per_request": 0.02}}


def test_rounds_combine_into_medians() -> None:
    def run(rps: float, p50: float, cpu: float) -> dict:
        return {
            "rps": rps,
            "p50_ms": p50,
            "p99_ms": 2 * p50,
            "threads": {"python": {"cpu_us_per_request": cpu, "switches_per_request": 1.0}},
            "gil_self_time": [{"function": str(rps), "share": 1.0}],
            "gil_by_module": {},
        }

    runs = [run(100.0, 3.0, 900.0), run(300.0, 1.0, 700.0), run(200.0, 2.0, 800.0)]
    combined = combine(runs)
    assert (combined["rps"], combined["p50_ms"], combined["p99_ms"]) == (200.0, 2.0, 4.0)
    assert combined["threads"]["python"]["cpu_us_per_request"] == 800.0
    assert combined["gil_self_time"][0]["function"] == "200.0"  # the profile of the median round
