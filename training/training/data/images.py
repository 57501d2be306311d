"""ImageFolder data: `<channel>/<class_name>/*.{png,jpg,jpeg}`, class names from sorted folder names."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from training.data.folders import Dataset, list_class_folders
from training.errors import DataError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Above this many pixels (a 25 MP photo, 75 MB decoded; the server refuses the same) a file is a bad
# file: checked on the header, before anything is decoded. Pillow's own bomb check (89 MP warns,
# 179 MP raises) is looser and raises an error that is not an OSError.
MAX_IMAGE_PIXELS = 25_000_000


@dataclass(frozen=True)
class ImageSettings:
    size: int
    on_bad_file: str = "error"  # or "skip"


def _load_image(path: Path, size: int) -> np.ndarray:
    """Decode, convert to RGB and resize (PIL bilinear), as the server does: HWC uint8."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise DataError(f"{path}: image is {width}x{height}, over the limit of {MAX_IMAGE_PIXELS:,} pixels")
            rgb = image.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
    except Image.DecompressionBombError:
        raise DataError(
            f"{path}: image is over the limit of {MAX_IMAGE_PIXELS:,} pixels (a decompression bomb by Pillow's measure)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None


def load_image_folder(
    root: Path, settings: ImageSettings, class_names: list[str] | None = None, workers: int = 4
) -> Dataset:
    """Load every image under `root` as uint8 NCHW pixels with integer labels.

    `class_names` fixes the label order (validation and test channels use the train channel's).
    """
    folders = list_class_folders(root, IMAGE_SUFFIXES, "image", class_names)
    names = class_names or [folder.name for folder in folders]
    paths: list[Path] = []
    labels: list[int] = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        paths.extend(files)
        labels.extend([names.index(folder.name)] * len(files))

    def load(path: Path) -> np.ndarray | None:
        try:
            return _load_image(path, settings.size)
        except DataError:
            if settings.on_bad_file == "skip":
                return None
            raise

    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(load, paths))
    keep = [i for i, image in enumerate(images) if image is not None]
    skipped = len(paths) - len(keep)
    if skipped:
        log.warning("skipped %d unreadable image(s) under %s (on_bad_file=skip)", skipped, root)
    if not keep:
        raise DataError(f"{root}: no readable images")
    pixels = np.stack([image for image in images if image is not None]).transpose(0, 3, 1, 2).copy()
    return Dataset(
        inputs=pixels,
        labels=np.asarray([labels[i] for i in keep], dtype=np.int64),
        class_names=list(names),
        groups=None,
        skipped=skipped,
        source=root,
    )
