"""`python -m monitor`: one window of captured requests against the artifact's reference profile.

Writes `drift.json`, `drift.png` and `metrics.json` (CloudWatch figures) to `--output`. Exit 0 whenever
the report is written, whatever its status (a bad window is a report, not a failure: docs/monitoring.md);
2 for usage: bad flags, or a model dir that is no model artifact. On SageMaker Processing the defaults
are the job's folders (`/opt/ml/processing/{model,captures,labels,output}`); a model folder holding only
the job's `model.tar.gz` is unpacked first, and `--window-end`/`--window-hours` keep the window's captures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROCESSING = Path("/opt/ml/processing")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monitor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=PROCESSING / "model", help="the model artifact (a folder)")
    parser.add_argument(
        "--captures",
        type=Path,
        nargs="+",
        default=[PROCESSING / "captures"],
        help="capture files or folders of *.jsonl",
    )
    parser.add_argument("--labels", type=Path, default=None, help="labels keyed by inference id (.csv or .jsonl)")
    parser.add_argument("--output", type=Path, default=PROCESSING / "output", help="where the report goes")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--min-window", type=int, default=50, help="fewer inputs than this: no test runs")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--window-end",
        default=None,
        help="ISO 8601 time: only captures in [end - window hours, end) count (the scheduled job's window)",
    )
    parser.add_argument("--window-hours", type=int, default=None, help="the window's length (with --window-end)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from inference.errors import ArtifactError

    from monitor.metrics import METRICS_JSON, metric_data
    from monitor.report import write_json, write_png
    from monitor.run import MonitorSettings, monitor
    from monitor.window import TimeWindow, model_dir, parse_time

    try:
        settings = MonitorSettings(
            alpha=args.alpha, min_window=args.min_window, permutations=args.permutations, seed=args.seed
        )
        if (args.window_end is None) != (args.window_hours is None):
            raise ValueError("--window-end and --window-hours go together")
        window_time = TimeWindow(end=parse_time(args.window_end), hours=args.window_hours) if args.window_end else None
    except ValueError as error:
        print(f"monitor: {error}", file=sys.stderr)
        return 2
    labels = args.labels
    if labels is not None and labels.is_dir():  # the processing input folder: its one file, if any
        files = sorted(p for p in labels.iterdir() if p.suffix.lower() in (".csv", ".jsonl"))
        labels = files[0] if files else None
    try:
        report = monitor(model_dir(args.model_dir), args.captures, labels, settings, window_time)
    except ArtifactError as error:
        print(f"monitor: {args.model_dir}: not a model artifact: {error}", file=sys.stderr)
        return 2
    json_path = write_json(report, args.output)
    write_png(report, args.output)
    (args.output / METRICS_JSON).write_text(json.dumps(metric_data(report, report.get("model", "unknown"))) + "\n")
    print(f"monitor: {report['status']}: {report['message']} ({json_path})")
    return 0
