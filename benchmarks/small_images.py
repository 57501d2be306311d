"""A newcomer's first data set, rebuilt offline: 60 cats and 60 dogs, 64 px PNG files in class folders.

Issue 31 tried `make local IMAGES=dir` on 120 photos of cats and dogs (60 each, 64 px). No such photos
are available offline, so this stands in for them with the shared CIFAR-10 training images
(`cifar10-dev/cat`, `cifar10-dev/dog`, 32 px), upscaled to 64 px (bicubic) and written as PNG files in
the layout `make local IMAGES=dir` reads (`<out>/cat/*.png`, `<out>/dog/*.png`). With `--eval-per-class`
it also writes a disjoint evaluation set (`<out>-eval/`), for measurements that need more than local
mode's 12 held-out images to tell one recipe from another.

    python -m benchmarks.small_images --data ../shared/datasets --out /tmp/cats-dogs [--eval-per-class 250]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image

CLASSES = ("cat", "dog")
SOURCE = "cifar10-dev"


def write_set(files: list[Path], out: Path, size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for source in files:
        with Image.open(source) as image:
            image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(out / f"{source.stem}.png")


def build(
    data: Path, out: Path, per_class: int = 60, size: int = 64, eval_per_class: int = 0, seed: int = 0
) -> tuple[Path, Path | None]:
    """`out/<class>/*.png` (and `<out>-eval/<class>/*.png` with `eval_per_class`); returns both roots."""
    rng = random.Random(seed)
    evaluation = out.parent / f"{out.name}-eval" if eval_per_class else None
    for name in CLASSES:
        folder = data / SOURCE / name
        files = sorted(folder.glob("*.jpg"))
        if len(files) < per_class + eval_per_class:
            raise SystemExit(f"{folder}: {len(files)} images, {per_class + eval_per_class} needed")
        chosen = rng.sample(files, per_class + eval_per_class)
        write_set(chosen[:per_class], out / name, size)
        if evaluation is not None:
            write_set(chosen[per_class:], evaluation / name, size)
    return out, evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--eval-per-class", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out, evaluation = build(args.data, args.out, args.per_class, args.size, args.eval_per_class, args.seed)
    print(f"wrote {out}" + (f" and {evaluation}" if evaluation else ""))


if __name__ == "__main__":
    main()
