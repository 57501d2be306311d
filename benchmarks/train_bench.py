"""`make bench-train`: training throughput, data-parallel scaling, checkpoint cost and quality.

Every figure is measured in this run, through the real `train` program:
- the CNN trainer's samples/s against the same network's bare forward+backward loop (the physical
  reference), with 1 and 2 data-parallel processes;
- the cost of the per-epoch checkpoint;
- quality on data the models never saw: the CNN on a seeded 10% validation split of `cifar10-dev`
  under a time budget; the MLP on `fsdd-dev` speaker-independently (train on three speakers,
  validate on the fourth, all four rotations).

    python -m benchmarks.train_bench --data ../shared/datasets [--quick]

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

    return parse_hyperparameters({"model": "cnn"})


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


def bench_mlp_rotations(
    fsdd: Path, work: Path, epochs: str | None, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    files = sorted(fsdd.glob("*.wav"))
    speakers = sorted({p.name.split("_")[1] for p in files})
    rotations = []
    for held_out in speakers:
        folder = work / f"fsdd-{held_out}"
        train_dir = link_subset([p for p in files if p.name.split("_")[1] != held_out], folder / "train", False)
        val_dir = link_subset([p for p in files if p.name.split("_")[1] == held_out], folder / "validation", False)
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
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with cifar10-dev/ and fsdd-dev/")
    parser.add_argument("--quick", action="store_true", help="small runs to check the script, not figures")
    parser.add_argument("--only", choices=("throughput", "cnn", "mlp"), action="append")
    parser.add_argument("--budgets", default="600,300", help="CNN time budgets in seconds")
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
        if "mlp" in only:
            overrides = dict(item.split("=", 1) for item in args.set)
            results["mlp_quality"] = bench_mlp_rotations(fsdd, work, "3" if args.quick else None, overrides)
            results["mlp_quality"]["overrides"] = overrides
            print(json.dumps(results["mlp_quality"]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "train-quick" if args.quick else "train"
    previous = args.out / f"{stem}.json"
    if args.only and previous.exists():  # a partial run updates its own parts and keeps the others
        results = {**json.loads(previous.read_text()), **results}
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(results) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
