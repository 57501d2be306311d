"""A point of the CNN frontier table: held-out accuracy of one family and width at fixed epochs.

Each seed is one job through the real `train` program (`benchmarks.train_bench.train`) on the
45,000/5,000 split of the full CIFAR-10 training set (`benchmarks.cifar_holdout`): the 45,000 train,
the 5,000 are the validation and test channels, so the accuracy is the exported artifact's (with its
test-time flip) on images no run trained on. Accuracy at fixed epochs does not depend on the machine's
load, so points can be measured on a busy machine; the wall time and samples/s printed beside them do.

    python -m benchmarks.frontier_point --data ../shared/datasets --family airbench --width 32 \\
        --epochs 10 --seeds 0,1,2

Prints one JSON line per seed as it ends, then the mean as a `FrontierPoint` for
`training/training/models/cnn_frontier.json`, and appends every run to
`benchmarks/results/frontier_points.json`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.train_bench import RESULTS, machine, train

POINTS_FILE = RESULTS / "frontier_points.json"


def run_point(
    data: Path, work: Path, family: str, width: int, epochs: int, seed: int, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    from benchmarks.cifar_holdout import build_split

    train_dir, holdout_dir = build_split(data, work / "cifar45k")
    hyperparameters = {
        "model": "cnn",
        "family": family,
        "width": str(width),
        "epochs": str(epochs),
        "seed": str(seed),
        "explain_per_class": "0",
        **(extra or {}),
    }
    channels = {"train": train_dir, "validation": holdout_dir, "test": holdout_dir}
    run = train(channels, hyperparameters, work / f"{family}-w{width}-e{epochs}-s{seed}")
    rates = [rate for _, _, rate in run.epochs[1:]] or [rate for _, _, rate in run.epochs]
    return {
        "family": family,
        "width": width,
        "epochs": epochs,
        "seed": seed,
        **({"hyperparameters": extra} if extra else {}),
        "accuracy": run.evaluation["accuracy"],
        "epochs_run": len(run.epochs),
        "wall_s": round(run.seconds, 1),
        "training_samples_per_s": round(statistics.median(rates), 1) if rates else None,
        "train_samples": sum(1 for path in train_dir.rglob("*") if path.is_file()) * epochs,
        "measured": datetime.date.today().isoformat(),
        "machine": machine(),
    }


def frontier_point(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of `runs` (one family, width and epochs) as a row of the frontier table."""
    first = runs[0]
    return {
        "family": first["family"],
        "width": first["width"],
        "epochs": first["epochs"],
        "train_samples": first["train_samples"],
        "accuracy": round(statistics.fmean(r["accuracy"] for r in runs), 4),
        "seeds": len(runs),
        "data": "CIFAR-10 training split, 45,000 train / 5,000 held out (benchmarks/cifar_holdout.py); "
        "python -m benchmarks.frontier_point",
        "device": first["machine"],
        "measured": first["measured"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/datasets (both CIFAR-10 folders)")
    parser.add_argument("--family", choices=("residual", "airbench"), required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep each run's artifact there")
    parser.add_argument("--note", help="recorded with each run (what differed from the runs before)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a hyperparameter beside the point's own"
    )
    args = parser.parse_args(argv)
    if bad := [item for item in args.set if "=" not in item]:
        parser.error(f"--set takes KEY=VALUE, got {', '.join(bad)}")
    extra = dict(item.split("=", 1) for item in args.set)
    runs = []
    with tempfile.TemporaryDirectory(prefix="frontier-") as tmp:
        work = args.keep or Path(tmp)
        for seed in (int(s) for s in args.seeds.split(",")):
            runs.append(run_point(args.data, work, args.family, args.width, args.epochs, seed, extra))
            if args.note:
                runs[-1]["note"] = args.note
            print(json.dumps(runs[-1]), flush=True)
    earlier = json.loads(POINTS_FILE.read_text()) if POINTS_FILE.exists() else []
    POINTS_FILE.write_text(json.dumps(earlier + runs, indent=1) + "\n")
    print(json.dumps(frontier_point(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
