"""`make bench-train`: training throughput, data-parallel scaling, checkpoint cost and quality.

Every figure is measured in this run, through the real `train` program:
- the CNN trainer's samples/s against the same network's bare forward+backward loop (the physical
  reference), with 1 and 2 data-parallel processes;
- the cost of the per-epoch checkpoint;
- quality on data the models never saw: the CNN on a seeded 10% validation split of `cifar10-dev`
  under a time budget; the MLP on `fsdd-dev` speaker-independently (train on three speakers,
  validate on the fourth, all four rotations);
- `--only budgets`: the budget-chosen CNN recipe (width and epochs on auto) on the 45,000/5,000 split
  of the full CIFAR-10 training set (`benchmarks/cifar_holdout.py`), per budget and seed: the width
  and epochs chosen, the samples/s measured, wall time and held-out accuracy. `--quick` checks the
  script on 20 images per class with a 30 s budget.

    python -m benchmarks.train_bench --data ../shared/datasets [--quick]
    python -m benchmarks.train_bench --data ../shared/datasets --only budgets --budgets 600,1800 --seeds 0,1,2

Writes `benchmarks/results/train.json` and `train.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PROGRAM = ROOT / "training" / "train"
RESULTS = ROOT / "benchmarks" / "results"
EPOCH_LINE = re.compile(r"^epoch=(\d+) .*val_accuracy=([0-9.]+) .*samples_per_s=([0-9.]+)", re.MULTILINE)
CHECKPOINT_LINE = re.compile(r"checkpoint \S+ written in ([0-9.]+) s")


@dataclass
class Run:
    seconds: float
    output: str
    evaluation: dict[str, Any]

    @property
    def epochs(self) -> list[tuple[int, float, float]]:
        return [(int(e), float(a), float(s)) for e, a, s in EPOCH_LINE.findall(self.output)]


def train(
    channels: dict[str, Path], hyperparameters: dict[str, str], workdir: Path, extra_env: dict[str, str] | None = None
) -> Run:
    """One job through the container's `train` program, channels and paths as SM_* variables."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SM_INPUT_DIR": str(workdir / "input"),
        "SM_MODEL_DIR": str(workdir / "model"),
        "SM_OUTPUT_DIR": str(workdir / "output"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        **(extra_env or {}),
    }
    env.update({f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()})
    flags = [item for key, value in hyperparameters.items() for item in (f"--{key}", value)]
    started = time.monotonic()
    result = subprocess.run([str(TRAIN_PROGRAM), "train", *flags], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"training failed ({hyperparameters}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    evaluation_path = workdir / "output" / "data" / "evaluation.json"
    evaluation = json.loads(evaluation_path.read_text()) if evaluation_path.exists() else {}
    return Run(seconds, result.stdout + result.stderr, evaluation)


def raw_cnn_samples_per_second(image_size: int, width: int, batch_size: int, steps: int) -> float:
    """The same network's bare forward+backward+SGD step on random tensors, at the trainer's default
    precision (bf16 autocast where the CPU computes it natively): the physical reference."""
    import torch
    import torch.nn.functional as F
    from training.cnn_training import autocast, autocast_dtype
    from training.models.cnn import CNNConfig, ImageClassifier

    torch.manual_seed(0)
    model = ImageClassifier(CNNConfig(num_classes=10, image_size=image_size, width=width)).to(
        memory_format=torch.channels_last
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    images = torch.rand(batch_size, 3, image_size, image_size).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,))
    model.train()

    cpu = torch.device("cpu")
    dtype = autocast_dtype("auto", cpu)

    def step() -> None:
        with autocast(dtype, cpu):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    started = time.monotonic()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.monotonic() - started)


def default_cnn_recipe() -> Any:
    """The CNN's default hyperparameters: what the trainer runs and the reference loop must match."""
    from training.hyperparameters import parse_hyperparameters
    from training.recipe import with_default_recipe

    return with_default_recipe(parse_hyperparameters({"model": "cnn"}))  # width/epochs on auto: no budget here


def link_subset(files: list[Path], folder: Path, keep_class_folders: bool) -> Path:
    """A channel made of symlinks to chosen files, in the layout the files came from."""
    for path in files:
        target = folder / path.parent.name / path.name if keep_class_folders else folder / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())
    return folder


def cifar_subset(data: Path, per_class: int, folder: Path) -> Path:
    files = [p for d in sorted(data.iterdir()) if d.is_dir() for p in sorted(d.iterdir())[:per_class]]
    return link_subset(files, folder, keep_class_folders=True)


def bench_throughput(cifar: Path, work: Path, quick: bool) -> dict[str, Any]:
    per_class = 200 if quick else 500
    channel = cifar_subset(cifar, per_class, work / "throughput-data")
    common = {"model": "cnn", "epochs": "2", "seed": "0", "validation_fraction": "0.1"}
    results: dict[str, Any] = {"images": per_class * 10}
    single = train({"train": channel}, common, work / "p1")
    double = train({"train": channel}, {**common, "processes_per_host": "2", "dist_port": "29721"}, work / "p2")
    checkpointed = train({"train": channel}, {**common, "checkpoint_dir": str(work / "ckpt")}, work / "ck")
    # The second epoch: the first pays one-off costs (thread pools, allocator warm-up).
    results["cnn_samples_per_s_1_process"] = single.epochs[-1][2]
    results["cnn_samples_per_s_2_processes"] = double.epochs[-1][2]
    writes = [float(s) for s in CHECKPOINT_LINE.findall(checkpointed.output)]
    epoch_seconds = results["images"] * 0.9 / checkpointed.epochs[-1][2]
    results["checkpoint_write_s"] = max(writes) if writes else None
    results["checkpoint_overhead_fraction"] = (max(writes) / epoch_seconds) if writes else None
    recipe = default_cnn_recipe()
    results["recipe"] = {key: getattr(recipe, key) for key in ("image_size", "width", "batch_size", "precision")}
    results["raw_forward_backward_samples_per_s"] = raw_cnn_samples_per_second(
        recipe.image_size, recipe.width, recipe.batch_size, 10 if quick else 30
    )
    raw = results["raw_forward_backward_samples_per_s"]
    results["trainer_to_raw_ratio"] = results["cnn_samples_per_s_1_process"] / raw
    return results


def bench_cnn_quality(cifar: Path, work: Path, budget_s: int) -> dict[str, Any]:
    run = train(
        {"train": cifar},
        {"model": "cnn", "seed": "0", "validation_fraction": "0.1", "time_budget_s": str(budget_s)},
        work / f"cnn-{budget_s}",
    )
    return {
        "time_budget_s": budget_s,
        "wall_s": round(run.seconds, 1),
        "epochs_run": len(run.epochs),
        "val_accuracy": run.evaluation["accuracy"],
        "macro_f1": run.evaluation["macro_f1"],
        "samples_per_s": run.epochs[-1][2] if run.epochs else None,
    }


def machine() -> str:
    """Platform, CPU count and the GPU's name if there is one: what a budget buys depends on it."""
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{platform.platform(terse=True)} {platform.machine()}, {os.cpu_count()} CPUs{gpu}"


def bench_budgets(data: Path, work: Path, budgets: list[int], seeds: list[int], quick: bool) -> dict[str, Any]:
    """Auto-recipe CNN jobs on the 45k/5k split: train channel = train/, validation and test channels = holdout/."""
    from benchmarks.cifar_holdout import build_split

    train_dir, holdout_dir = build_split(data, work / "cifar45k")
    if quick:
        train_dir = cifar_subset(train_dir, 20, work / "quick-train")
        holdout_dir = cifar_subset(holdout_dir, 20, work / "quick-holdout")
    runs = []
    for budget in budgets:
        for seed in seeds:
            hyperparameters = {
                "model": "cnn",
                "seed": str(seed),
                "time_budget_s": str(budget),
                "explain_per_class": "0",
            }
            # All 45,000 images train: the held-out 5,000 are the validation channel (per-epoch figures,
            # which choose nothing) and the test channel (the final evaluation).
            channels = {"train": train_dir, "validation": holdout_dir, "test": holdout_dir}
            run = train(channels, hyperparameters, work / f"budget-{budget}-{seed}")
            chosen = run.evaluation["training"]["recipe"]
            runs.append(
                {
                    "time_budget_s": budget,
                    "seed": seed,
                    "family": chosen.get("family", "residual"),
                    "width": chosen["width"],
                    "epochs": chosen["epochs"],
                    "epochs_run": len(run.epochs),
                    "probe_samples_per_s": chosen["samples_per_s"],
                    "training_samples_per_s": run.epochs[-1][2] if run.epochs else None,
                    "predicted_accuracy": chosen["predicted"]
                    .get(f"{chosen.get('family', 'residual')}-w{chosen['width']}", {})
                    .get("accuracy"),
                    "wall_s": round(run.seconds, 1),
                    "accuracy": run.evaluation["accuracy"],
                    "recipe": chosen,
                    "log_line": next((line for line in run.output.splitlines() if line.startswith("recipe ")), ""),
                }
            )
            print(json.dumps({k: v for k, v in runs[-1].items() if k not in ("recipe", "log_line")}), flush=True)
    return {"machine": machine(), "quick": quick, "runs": runs}


def budget_markdown(budgets: dict[str, Any]) -> list[str]:
    lines = [
        f"| CNN, auto recipe, 45k/5k split ({budgets['machine']}) | seed | family, width | epochs (run) | "
        "probe samples/s per candidate | wall s | held-out accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for budget in sorted({r["time_budget_s"] for r in budgets["runs"]}):
        runs = [r for r in budgets["runs"] if r["time_budget_s"] == budget]
        for r in runs:
            rates = ", ".join(f"{key}: {s:.0f}" for key, s in r["probe_samples_per_s"].items()) or "-"
            lines.append(
                f"| time_budget_s={budget} | {r['seed']} | {r.get('family', 'residual')} w{r['width']} | "
                f"{r['epochs']} ({r['epochs_run']}) | "
                f"{rates} | {r['wall_s']} | {r['accuracy']:.4f} |"
            )
        mean = sum(r["accuracy"] for r in runs) / len(runs)
        wall = sum(r["wall_s"] for r in runs) / len(runs)
        lines.append(f"| **time_budget_s={budget}, mean** | {len(runs)} seeds | | | | {wall:.1f} | **{mean:.4f}** |")
    return [*lines, ""]


def speaker_rotations(fsdd: Path, work: Path, held_out_channel: str) -> Iterator[tuple[str, Path, Path, Path]]:
    """Leave one speaker out, for each speaker of the spoken-digit clips in `fsdd`: (the speaker, the
    rotation's folder, its train channel of the other speakers' clips, the held-out speaker's channel
    named `held_out_channel`), as linked folders under `work`."""
    files = sorted(fsdd.glob("*.wav"))
    for held_out in sorted({p.name.split("_")[1] for p in files}):
        folder = work / f"fsdd-{held_out}"
        train_dir = link_subset([p for p in files if p.name.split("_")[1] != held_out], folder / "train", False)
        held = link_subset([p for p in files if p.name.split("_")[1] == held_out], folder / held_out_channel, False)
        yield held_out, folder, train_dir, held


def bench_mlp_rotations(
    fsdd: Path, work: Path, epochs: str | None, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    rotations = []
    for held_out, folder, train_dir, val_dir in speaker_rotations(fsdd, work, "validation"):
        hyperparameters = {"model": "mlp", "seed": "0", **({"epochs": epochs} if epochs else {})}
        hyperparameters.update(overrides or {})
        run = train({"train": train_dir, "validation": val_dir}, hyperparameters, folder / "job")
        rotations.append(
            {"held_out_speaker": held_out, "accuracy": run.evaluation["accuracy"], "wall_s": round(run.seconds, 1)}
        )
    accuracies = [r["accuracy"] for r in rotations]
    return {"rotations": rotations, "mean_accuracy": sum(accuracies) / len(accuracies), "min_accuracy": min(accuracies)}


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Training benchmark ({results['measured_at']}, {results['machine']})", ""]
    t = results.get("throughput")
    if t:
        recipe = ", ".join(f"{k} {v}" for k, v in t.get("recipe", {}).items())
        lines += [
            f"| CNN throughput (cifar10-dev subset{'; ' + recipe if recipe else ''}) | figure |",
            "|---|---|",
            f"| trainer, 1 process | {t['cnn_samples_per_s_1_process']:.0f} samples/s |",
            f"| trainer, 2 processes (DDP, gloo) | {t['cnn_samples_per_s_2_processes']:.0f} samples/s |",
            f"| bare forward+backward loop (reference) | {t['raw_forward_backward_samples_per_s']:.0f} samples/s |",
            f"| trainer / reference | {t['trainer_to_raw_ratio']:.2f} |",
            f"| checkpoint write per epoch | {t['checkpoint_write_s']:.3f} s "
            f"({100 * t['checkpoint_overhead_fraction']:.2f}% of an epoch) |",
            "",
        ]
    cnn = results.get("cnn_quality", [])
    if cnn:
        lines += [
            "| CNN on cifar10-dev, 10% validation | wall s | epochs | val accuracy | macro F1 |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| time_budget_s={r['time_budget_s']} | {r['wall_s']} | {r['epochs_run']} | "
            f"{r['val_accuracy']:.4f} | {r['macro_f1']:.4f} |"
            for r in cnn
        ]
        lines.append("")
    mlp = results.get("mlp_quality")
    if mlp:
        lines += ["| MLP on fsdd-dev, held-out speaker | accuracy | wall s |", "|---|---|---|"]
        lines += [f"| {r['held_out_speaker']} | {r['accuracy']:.4f} | {r['wall_s']} |" for r in mlp["rotations"]]
        lines += [f"| **mean** (min) | **{mlp['mean_accuracy']:.4f}** ({mlp['min_accuracy']:.4f}) | |", ""]
    budgets = results.get("budgets")
    if budgets:
        lines += budget_markdown(budgets)
        lines += ["![CNN frontier](cnn_frontier.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with cifar10-dev/ and fsdd-dev/")
    parser.add_argument("--quick", action="store_true", help="small runs to check the script, not figures")
    parser.add_argument("--only", choices=("throughput", "cnn", "mlp", "budgets"), action="append")
    parser.add_argument("--budgets", default="600,300", help="CNN time budgets in seconds")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of each budget run (--only budgets)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="MLP hyperparameter override, to try a recipe change (recorded in the results)",
    )
    args = parser.parse_args(argv)
    cifar, fsdd = args.data / "cifar10-dev", args.data / "fsdd-dev"
    for needed in (cifar, fsdd):
        if not needed.is_dir():
            parser.error(f"{needed} not found: --data must hold cifar10-dev/ and fsdd-dev/ (see ../shared/datasets)")
    only = set(args.only or ("throughput", "cnn", "mlp"))
    if "budgets" in only and not (args.data / "cifar10-train-extra").is_dir():
        parser.error(f"{args.data / 'cifar10-train-extra'} not found: the budgets part needs the full training split")
    results: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        if "throughput" in only:
            results["throughput"] = bench_throughput(cifar, work, args.quick)
            print(json.dumps(results["throughput"], indent=2), flush=True)
        if "cnn" in only:
            budgets = [30] if args.quick else [int(b) for b in args.budgets.split(",")]
            results["cnn_quality"] = []
            for budget in budgets:
                results["cnn_quality"].append(bench_cnn_quality(cifar, work, budget))
                print(json.dumps(results["cnn_quality"][-1]), flush=True)
        if "budgets" in only:
            budgets = [30] if args.quick else [int(b) for b in args.budgets.split(",")]
            seeds = [0] if args.quick else [int(seed) for seed in args.seeds.split(",")]
            results["budgets"] = bench_budgets(args.data, work, budgets, seeds, args.quick)
            from training.recipe import Frontier

            from benchmarks.cnn_frontier_plot import plot

            plot(Frontier.load(), args.out / "cnn_frontier.png")
        if "mlp" in only:
            overrides = dict(item.split("=", 1) for item in args.set)
            results["mlp_quality"] = bench_mlp_rotations(fsdd, work, "3" if args.quick else None, overrides)
            results["mlp_quality"]["overrides"] = overrides
            print(json.dumps(results["mlp_quality"]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "train-quick" if args.quick else "train"
    previous = args.out / f"{stem}.json"
    if args.only and previous.exists():  # a partial run updates its own parts and keeps the others
        earlier = json.loads(previous.read_text())
        if "budgets" in results and "budgets" in earlier:  # budget runs accumulate: one (budget, seed) each
            fresh = {(r["time_budget_s"], r["seed"]) for r in results["budgets"]["runs"]}
            kept = [r for r in earlier["budgets"]["runs"] if (r["time_budget_s"], r["seed"]) not in fresh]
            results["budgets"]["runs"] = sorted(
                kept + results["budgets"]["runs"], key=lambda r: (r["time_budget_s"], r["seed"])
            )
        results = {**earlier, **results}
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(results) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
