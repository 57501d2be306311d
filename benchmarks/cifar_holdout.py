"""The issue-20 measurement split: all 50,000 CIFAR-10 training images, 5,000 held out.

`cifar10-dev` and `cifar10-train-extra` together are the full training split (their README). This
links them into two class-folder trees, `train/` (45,000) and `holdout/` (500 per class, chosen with
a seeded generator), so budgeted runs train on one and are judged on images they never saw. The
official test split is not used in development.

    python -m benchmarks.cifar_holdout --data ../shared/datasets --out /tmp/cifar45k
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

FOLDERS = ("cifar10-dev", "cifar10-train-extra")


def build_split(data: Path, out: Path, holdout_per_class: int = 500, seed: int = 0) -> tuple[Path, Path]:
    """Symlink trees `out/train` and `out/holdout`; returns their paths. Rebuilt from scratch each call."""
    roots = [data / name for name in FOLDERS]
    missing = [str(root) for root in roots if not root.is_dir()]
    if missing:
        raise SystemExit(f"missing CIFAR-10 folders: {', '.join(missing)}")
    classes = sorted({p.name for root in roots for p in root.iterdir() if p.is_dir()})
    rng = random.Random(seed)
    train, holdout = out / "train", out / "holdout"
    for name in classes:
        files = sorted(f for root in roots for f in (root / name).glob("*") if f.is_file())
        chosen = set(rng.sample(range(len(files)), holdout_per_class))
        for index, source in enumerate(files):
            folder = (holdout if index in chosen else train) / name
            folder.mkdir(parents=True, exist_ok=True)
            link = folder / f"{source.parent.parent.name}-{source.name}"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(source.resolve())
    return train, holdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with cifar10-dev/ and cifar10-train-extra/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--holdout-per-class", type=int, default=500)
    args = parser.parse_args(argv)
    train, holdout = build_split(args.data, args.out, args.holdout_per_class)
    print(f"train: {sum(1 for _ in train.rglob('*.jpg'))} images in {train}")
    print(f"holdout: {sum(1 for _ in holdout.rglob('*.jpg'))} images in {holdout}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
