"""Small data: optimizer steps against held-out accuracy, to set the floor (`min_steps`, training/step_floor.py).

The newcomer's data set (`benchmarks/small_images.py`: 60 cats, 60 dogs, 64 px) is split as
`make local IMAGES=dir` splits it (10% held out, seeded: 108 images train), and trained through the
real `train` program with local mode's CNN recipe (`local_mode/settings.py`), the floor varied. Each
job is judged on a disjoint evaluation set of the same classes (`--eval-per-class` per class) as its
`test` channel: local mode's 12 held-out images cannot tell one recipe from another. The security
evaluation and explanations are off (they measure the artifact, they change nothing trained).

- `main`: main's recipe before issue 31 (10% of the train channel held out for validation, width 16,
  6 epochs at batch 64: `refit=false min_steps=0`);
- `floor=N`: this branch's recipe (refit on all 108, the floor at N steps; 0: 6 epochs at batch 64).
  The MLP refit on main already: its main is `floor=0`;
- `auto=N`: epochs on auto, chosen from local mode's time budget and the measured speed, then the floor.

With `--audio` the same for the MLP on a small spoken-digit set from `fsdd-dev` (`--audio-clips` per
digit of two speakers to train, a third speaker's clips as the test channel).

Process CPU seconds (the jobs' user + system time, `resource.getrusage(RUSAGE_CHILDREN)`) are
reported beside wall seconds: on a shared machine they are the fairer cost.

    nice -n 10 python -m benchmarks.small_data --data ../shared/datasets --seeds 0,1,2 \\
        --recipes main,floor=0,floor=100,floor=300,floor=800,auto=300 [--audio]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.small_images import build
from benchmarks.train_bench import RESULTS, train
from local_mode.settings import FULL_RECIPES
from local_mode.user_data import image_data

QUIET = {"security": "false", "explain_per_class": "0"}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def recipe(model: str, name: str) -> dict[str, str]:
    """Local mode's recipe for `model` as `name` runs it: `main` (before issue 31), `floor=N`, or
    `auto=N` (epochs on auto: chosen from local mode's time budget, then the floor at N)."""
    base = {k: v for k, v in FULL_RECIPES[model].items() if not k.startswith("security")}
    if name == "main":  # the MLP already refit on main: its main is floor=0
        return {**base, **QUIET, "refit": "false" if model == "cnn" else "true", "min_steps": "0"}
    kind, _, floor = name.partition("=")
    if kind == "auto":
        return {**base, **QUIET, "epochs": "0", "min_steps": floor}
    return {**base, **QUIET, "min_steps": floor}


def one_run(channels: dict[str, Path], hyperparameters: dict[str, str], work: Path) -> dict[str, Any]:
    cpu = children_cpu_s()
    run = train(channels, hyperparameters, work)
    training = run.evaluation.get("training", {})
    steps = training.get("steps", {})
    check = run.evaluation.get("learning_check", {})
    result = {
        "accuracy": run.evaluation["accuracy"],
        "num_samples": run.evaluation["num_samples"],
        "steps": steps.get("steps"),
        "batch_size": steps.get("batch_size", int(hyperparameters["batch_size"])),
        "epochs_run": len(run.epochs),
        "trained_on": training.get("trained_on"),
        "wall_s": round(run.seconds, 1),
        "cpu_s": round(children_cpu_s() - cpu, 1),
        "learning_warning": bool(check.get("warning")),
        "top_predicted_share": check.get("top_predicted_share"),
    }
    shutil.rmtree(work, ignore_errors=True)
    return result


def sweep(
    model: str, channels: dict[str, Path], names: list[str], seeds: list[int], work: Path
) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        for seed in seeds:
            hyperparameters = {**recipe(model, name), "seed": str(seed)}
            row = {"model": model, "recipe": name, "seed": seed}
            row.update(one_run(channels, hyperparameters, work / f"{model}-{name}-{seed}"))
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def small_audio(data: Path, out: Path, per_digit: int) -> tuple[Path, Path]:
    """`out/train`: `per_digit` clips of each digit by george and jackson; `out/test`: every clip by nicolas."""
    train, test = out / "train", out / "test"
    for folder in (train, test):
        folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((data / "fsdd-dev").glob("*.wav")):
        digit, speaker, index = source.stem.split("_")
        if speaker in ("george", "jackson") and int(index) < per_digit:
            (train / source.name).symlink_to(source.resolve())
        elif speaker == "nicolas":
            (test / source.name).symlink_to(source.resolve())
    return train, test


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for model, name in dict.fromkeys((r["model"], r["recipe"]) for r in rows):
        group = [r for r in rows if r["model"] == model and r["recipe"] == name]
        accuracies = [r["accuracy"] for r in group]
        table.append(
            {
                "model": model,
                "recipe": name,
                "seeds": len(group),
                "steps": group[0]["steps"],
                "batch_size": group[0]["batch_size"],
                "accuracy_mean": round(statistics.mean(accuracies), 4),
                "accuracy_min": min(accuracies),
                "accuracy_max": max(accuracies),
                "learning_warnings": sum(r["learning_warning"] for r in group),
                "wall_s_mean": round(statistics.mean(r["wall_s"] for r in group), 1),
                "cpu_s_mean": round(statistics.mean(r["cpu_s"] for r in group), 1),
            }
        )
    return table


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Small data: optimizer steps against accuracy ({result['date']})",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {result['machine']}; load average {result['load_before']} before, {result['load_after']} after "
        "(other helpers' jobs were running: wall seconds are inflated, CPU seconds are the fairer cost).",
        "",
        f"Images: {result['images']}. Audio: {result.get('audio', 'not run')}.",
        "",
        "| model | recipe | seeds | optimizer steps | batch | accuracy mean (min-max) | learning warnings | "
        "wall s | CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        lines.append(
            f"| {row['model']} | {row['recipe']} | {row['seeds']} | {row['steps']} | {row['batch_size']} | "
            f"{row['accuracy_mean']:.4f} ({row['accuracy_min']:.3f}-{row['accuracy_max']:.3f}) | "
            f"{row['learning_warnings']} | {row['wall_s_mean']} | {row['cpu_s_mean']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument(
        "--recipes", default="main,floor=0,floor=100,floor=300", help="main, floor=N and auto=N (see the module doc)"
    )
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--eval-per-class", type=int, default=250)
    parser.add_argument("--audio", action="store_true")
    parser.add_argument("--audio-recipes", default="floor=0,floor=300")
    parser.add_argument("--audio-clips", type=int, default=5, help="clips per digit and training speaker")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--append", type=Path, help="a JSON log of earlier runs (one row a line) to include")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    if args.append:
        rows += [json.loads(line) for line in args.append.read_text().splitlines() if line.startswith("{")]
    with tempfile.TemporaryDirectory(prefix="small-data-") as tmp:
        work = Path(tmp)
        images, evaluation = build(args.data, work / "cats-dogs", eval_per_class=args.eval_per_class)
        assert evaluation is not None
        split = image_data(images, work / "split", fraction=0.1, limit=500, seed=0)
        channels = {"train": split.train, "test": evaluation}
        described = (
            f"60 cats + 60 dogs from cifar10-dev upscaled to 64 px (benchmarks/small_images.py), split as local "
            f"mode splits it ({len(split.samples)} held out, the rest train); judged on "
            f"{2 * args.eval_per_class} other cifar10-dev cats and dogs"
        )
        rows += sweep("cnn", channels, [r for r in args.recipes.split(",") if r], seeds, work / "runs")
        result: dict[str, Any] = {"images": described}
        if args.audio:
            train_dir, test_dir = small_audio(args.data, work / "audio", args.audio_clips)
            channels = {"train": train_dir, "test": test_dir}
            rows += sweep("mlp", channels, args.audio_recipes.split(","), seeds, work / "runs")
            result["audio"] = (
                f"fsdd-dev: {args.audio_clips} clips per digit of george and jackson train "
                f"({20 * args.audio_clips} clips), every clip of nicolas is the test channel"
            )
    from benchmarks.train_bench import machine

    date = datetime.now(UTC).strftime("%Y-%m-%d")
    result.update(
        {
            "date": date,
            "command": "nice -n 10 python -m benchmarks.small_data " + " ".join(sys.argv[1:]),
            "machine": machine(),
            "load_before": [round(v, 2) for v in load_before],
            "load_after": [round(v, 2) for v in os.getloadavg()],
            "finished": time.strftime("%H:%M:%S UTC", time.gmtime()),
            "summary": summarize(rows),
            "runs": rows,
        }
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"small-data-{date}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"small-data-{date}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
