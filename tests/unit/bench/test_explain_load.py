"""The explanation interference point's table (benchmarks/explain_load.py)."""

from benchmarks.explain_load import markdown


def test_markdown_lists_both_runs_and_the_explanation_statuses():
    point = {
        "concurrency": 8,
        "seconds": 6,
        "alone": {"rps": 293.5, "p99_ms": 49.1, "errors": 0},
        "with_explanations": {
            "rps": 280.2,
            "p99_ms": 96.8,
            "errors": 0,
            "statuses": {"200": 3, "429": 4},
            "explain_p50_ms": 1652.4,
            "explain_max_ms": 1800.0,
        },
    }
    text = markdown({"cnn": {"explain_interference": point}, "mlp": {"explain_interference": None}})
    assert "| cnn | 8 | 293.5 | 49.1 | 280.2 | 96.8 | 200: 3, 429: 4 | 1652.4 |" in text
    assert "| mlp |" not in text
