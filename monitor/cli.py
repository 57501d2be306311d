"""`python -m monitor`: one window of captured requests against the artifact's reference profile.

Writes `drift.json`, `drift.png` and `metrics.json` (CloudWatch figures) to `--output`. Exit 0 whenever
the report is written, whatever its status (a bad window is a report, not a failure: docs/monitoring.md);
2 for usage: bad flags, or a model dir that is no model artifact. On SageMaker Processing the defaults
are the job's folders (`/opt/ml/processing/{model,captures,labels,output}`).
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from inference.errors import ArtifactError

    from monitor.metrics import METRICS_JSON, metric_data
    from monitor.report import write_json, write_png
    from monitor.run import MonitorSettings, monitor

    try:
        settings = MonitorSettings(
            alpha=args.alpha, min_window=args.min_window, permutations=args.permutations, seed=args.seed
        )
    except ValueError as error:
        print(f"monitor: {error}", file=sys.stderr)
        return 2
    labels = args.labels
    if labels is not None and labels.is_dir():  # the processing input folder: its one file, if any
        files = sorted(p for p in labels.iterdir() if p.suffix.lower() in (".csv", ".jsonl"))
        labels = files[0] if files else None
    try:
        report = monitor(args.model_dir, args.captures, labels, settings)
    except ArtifactError as error:
        print(f"monitor: {args.model_dir}: not a model artifact: {error}", file=sys.stderr)
        return 2
    json_path = write_json(report, args.output)
    write_png(report, args.output)
    (args.output / METRICS_JSON).write_text(json.dumps(metric_data(report, report.get("model", "unknown"))) + "\n")
    print(f"monitor: {report['status']}: {report['message']} ({json_path})")
    return 0
