"""The budget probe's samples/s against the rate the training loop then runs at, in the same job.

A probe that reads low plans too few epochs and leaves budget unused (issue 31: 732 samples/s probed,
848 in the loop, 250 s of a 1,800 s budget unused). This runs one auto-epochs CNN job through the
real `train` program at a given width and prints the probe's rate (the `recipe` line), the loop's
per-epoch rates (the `epoch=` lines; the first epoch is left out of the median, it holds the loop's
own warm-up) and their ratio. Both come from the same process minutes apart, so the ratio is fair on
a shared machine; the absolute rates are not.

    nice -n 10 python -m benchmarks.probe_vs_loop --data <class folders> --width 16 --budget 120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.train_bench import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="class folders of images (the train channel)")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--family", choices=("residual", "airbench"), default="residual")
    parser.add_argument("--budget", type=int, default=120, help="time_budget_s of the job")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        run = train(
            {"train": args.data},
            {
                "model": "cnn",
                "width": str(args.width),
                "family": args.family,
                "time_budget_s": str(args.budget),
                "seed": str(args.seed),
                "security": "false",
                "explain_per_class": "0",
            },
            Path(tmp),
        )
    recipe = run.evaluation["training"]["recipe"]
    probe = recipe["samples_per_s"][f"{args.family}-w{args.width}"]
    loop = [rate for _, _, rate in run.epochs[1:]] or [rate for _, _, rate in run.epochs]
    result = {
        "width": args.width,
        "budget_s": args.budget,
        "probe_samples_per_s": probe,
        "loop_samples_per_s_median": round(statistics.median(loop), 1),
        "loop_samples_per_s": [round(r, 1) for r in loop],
        "ratio_loop_over_probe": round(statistics.median(loop) / probe, 3),
        "epochs_planned": recipe["epochs"],
        "epochs_run": len(run.epochs),
        "wall_s": round(run.seconds, 1),
        "load_before": [round(v, 2) for v in load],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
