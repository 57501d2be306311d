"""The audio model on speakers it never heard: one lever setting measured by the four-rotation protocol.

Each rotation holds one `fsdd-dev` speaker out and trains on the other three through the real
`train` program (benchmarks/train_bench.py's protocol), then scores the artifact on the held-out speaker.
- `--protocol validation` (the default): the held-out speaker is the `validation` channel, so the
  artifact learns the three others (the figure train_bench reports).
- `--protocol test`: the held-out speaker is the `test` channel and there is no validation channel,
  as in a product run with a test set: with `refit=false` the trainer holds one of the three speakers
  out for validation (the artifact learns two), with `refit=true` it learns all three.
- `--synthetic DIR`: a `synthetic` channel (`python -m training.synthesize`) for every rotation.

    python -m benchmarks.audio_levers --fsdd ../shared/datasets/fsdd-dev --name synthetic-0.5 \\
        --synthetic /tmp/syn-digits --set synthetic_ratio=0.5

Appends the run to `benchmarks/results/audio_levers.json` and rewrites `audio_levers.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.train_bench import RESULTS, speaker_rotations, train


def rotations(
    fsdd: Path, work: Path, protocol: str, synthetic: Path | None, overrides: dict[str, str]
) -> dict[str, Any]:
    runs = []
    for held_out, folder, train_dir, held_dir in speaker_rotations(fsdd, work, protocol):
        channels = {"train": train_dir, protocol: held_dir}
        if synthetic is not None:
            channels["synthetic"] = synthetic
        run = train(channels, {"model": "mlp", "seed": "0", **overrides}, folder / "job")
        runs.append(
            {
                "held_out_speaker": held_out,
                "accuracy": run.evaluation["accuracy"],
                "macro_f1": run.evaluation["macro_f1"],
                "wall_s": round(run.seconds, 1),
                "recall": {k: round(v["recall"], 3) for k, v in run.evaluation["per_class"].items()},
                "training": run.evaluation.get("training", {}),
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    accuracies = [r["accuracy"] for r in runs]
    return {"rotations": runs, "mean_accuracy": sum(accuracies) / len(accuracies), "min_accuracy": min(accuracies)}


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "# The audio model on speakers it never heard: four-rotation protocol on fsdd-dev",
        "",
        "| lever setting | protocol | synthetic | overrides | george | jackson | nicolas | theo | mean | min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        by = {x["held_out_speaker"]: f"{x['accuracy']:.3f}" for x in r["rotations"]}
        overrides = ", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "-"
        lines.append(
            f"| {r['name']} | {r['protocol']} | {r['synthetic'] or '-'} | {overrides} | "
            + " | ".join(by.get(s, "-") for s in ("george", "jackson", "nicolas", "theo"))
            + f" | **{r['mean_accuracy']:.3f}** | {r['min_accuracy']:.3f} |"
        )
    lines += ["", "Measured on " + "; ".join(sorted({r["machine"] for r in results})) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd", type=Path, required=True, help="the fsdd-dev folder (../shared/datasets/fsdd-dev)")
    parser.add_argument("--name", required=True, help="the row's name in the table")
    parser.add_argument("--protocol", choices=("validation", "test"), default="validation")
    parser.add_argument("--synthetic", type=Path, help="a `python -m training.synthesize` output folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="MLP hyperparameter")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.fsdd.is_dir():
        parser.error(f"{args.fsdd} not found (see ../shared/datasets/README.md)")
    overrides = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory(prefix="audio-levers-") as tmp:
        measured = rotations(args.fsdd, Path(tmp), args.protocol, args.synthetic, overrides)
    synthesis = None
    if args.synthetic is not None and (args.synthetic / "synthesis.json").exists():
        manifest = json.loads((args.synthetic / "synthesis.json").read_text())
        synthesis = f"{len(manifest['speakers'])} speakers, {manifest['clips']} clips, seed {manifest['seed']}"
    row = {
        "name": args.name,
        "protocol": args.protocol,
        "synthetic": synthesis,
        "overrides": overrides,
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        **measured,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared, nice {os.nice(0)}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "audio_levers.json"
    results = json.loads(path.read_text()) if path.exists() else []
    results = [r for r in results if r["name"] != args.name] + [row]
    path.write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "audio_levers.md").write_text(markdown(results))
    print(f"{args.name}: mean {row['mean_accuracy']:.3f}, min {row['min_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
