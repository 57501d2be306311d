"""The two small models `make bench-drift` measures with, trained by the project's own trainer.

- CNN: `cifar10-dev` (25,000 images) with a time budget (the job picks width and epochs); its held-out
  10% is the reference profile. `cifar10-train-extra`, never seen in training, is the unshifted pool.
- MLP: `fsdd-dev`, three speakers (george, jackson, nicolas). Takes 40-49 train (300 clips); takes
  0-39 (1,200 clips) are the test channel (refit: the profile is the test channel), which the bench
  splits into a reference half and an unshifted half; theo is the speaker never heard.

Artifacts are kept under `--out` and reused when present (delete the folder to retrain).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from local_mode.opt_ml import lay_out

HEARD = ("george", "jackson", "nicolas")
UNHEARD = "theo"
TRAIN_FROM_TAKE = 40  # takes 40-49 train (300 clips); 0-39 (1,200) are held out: reference and unshifted pool
FSDD = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def fsdd_split(folder: Path) -> dict[str, list[Path]]:
    """{"train": heard speakers' takes >= 25, "test": their takes < 25, "unheard": theo's clips}."""
    out: dict[str, list[Path]] = {"train": [], "test": [], "unheard": []}
    for path in sorted(folder.glob("*.wav")):
        match = FSDD.match(path.name)
        if not match:
            continue
        speaker, take = match.group(2), int(match.group(3))
        if speaker == UNHEARD:
            out["unheard"].append(path)
        elif speaker in HEARD:
            out["train" if take >= TRAIN_FROM_TAKE else "test"].append(path)
    return out


def _symlink(path: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.symlink(path.resolve(), target)


def _train(root: Path, hyperparameters: dict[str, str], channels: dict[str, list[tuple[Path, str]]]) -> Path:
    """Lay out a fresh /opt/ml tree, link each channel's files (path, name under the channel), train."""
    tree = lay_out(root, hyperparameters, dict.fromkeys(channels))
    for channel, files in channels.items():
        for path, name in files:
            _symlink(path, tree.channel(channel) / name)
    env = {**os.environ, **tree.environ(), "SM_NUM_CPUS": str(os.cpu_count() or 1)}
    subprocess.run(["nice", "-n", "10", sys.executable, "-m", "training"], env=env, check=True)
    return tree.model_dir


def train_cnn(data: Path, out: Path, budget_s: int) -> Path:
    root = out / "cnn"
    if (root / "model" / "reference_profile.json").is_file():
        return root / "model"
    files = [(p, f"{p.parent.name}/{p.name}") for p in sorted((data / "cifar10-dev").glob("*/*.jpg"))]
    return _train(root, {"model": "cnn", "time_budget_s": str(budget_s), "explain_per_class": "0"}, {"train": files})


def train_mlp(data: Path, out: Path, epochs: int) -> Path:
    root = out / "mlp"
    if (root / "model" / "reference_profile.json").is_file():
        return root / "model"
    split = fsdd_split(data / "fsdd-dev")
    channels = {channel: [(p, p.name) for p in split[channel]] for channel in ("train", "test")}
    return _train(root, {"model": "mlp", "epochs": str(epochs), "explain_per_class": "0"}, channels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/drift/.models"))
    parser.add_argument("--cnn-budget-s", type=int, default=600)
    parser.add_argument("--mlp-epochs", type=int, default=40)
    parser.add_argument("--only", choices=("cnn", "mlp"), default=None)
    args = parser.parse_args(argv)
    if args.only != "mlp":
        print("cnn:", train_cnn(args.data.resolve(), args.out.resolve(), args.cnn_budget_s), flush=True)
    if args.only != "cnn":
        print("mlp:", train_mlp(args.data.resolve(), args.out.resolve(), args.mlp_epochs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
