"""Explanation PNGs beside the client's input files (`python -m inference.client --explain`)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from inference.explain_serving import overlay_png


def heatmap_png(matrix: np.ndarray, scale: int = 6) -> bytes:
    """A signed map `(rows, columns)` as a PNG, red positive, blue negative, white zero; the first axis
    is drawn left to right (MFCC frames = time), the second bottom to top (coefficients)."""
    from PIL import Image

    picture = np.flipud(matrix.T)
    limit = float(np.percentile(np.abs(picture), 99)) or 1.0
    value = np.clip(picture / limit, -1.0, 1.0)[..., None]
    white = np.ones(3)
    rgb = np.where(
        value >= 0,
        white + value * (np.array([0.85, 0.1, 0.1]) - white),
        white - value * (np.array([0.1, 0.3, 0.9]) - white),
    )
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _images(body: bytes, content_type: str, height: int, width: int) -> list[np.ndarray | None]:
    """The inputs as model-resolution images `(3, H, W)` in [0, 1] where the client can read them."""
    from PIL import Image

    if content_type.startswith("image/"):
        pixels = Image.open(io.BytesIO(body)).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
        return [np.asarray(pixels, np.float32).transpose(2, 0, 1) / 255.0]
    if content_type == "application/x-npy":
        array = np.load(io.BytesIO(body), allow_pickle=False)
        array = array[None] if array.ndim == 3 else array
        if array.ndim == 4 and array.shape[1] == 3:
            return [row.astype(np.float32) for row in array]
    return []


def write_explanation_pngs(path: Path, body: bytes, content_type: str, predictions: list[dict[str, Any]]) -> list[Path]:
    """Write `<input>.explain.png` (one input) or `<input>.explain.<i>.png` per prediction's explanation."""
    written = []
    maps = [np.asarray(p["explanation"]["attributions"], np.float32) for p in predictions if "explanation" in p]
    images: list[np.ndarray | None] = []
    if maps and maps[0].ndim == 2 and "frames" not in predictions[0]["explanation"]:
        images = list(_images(body, content_type, *maps[0].shape))
    for i, attribution in enumerate(maps):
        name = f"{path.name}.explain.png" if len(maps) == 1 else f"{path.name}.explain.{i}.png"
        target = path.with_name(name)
        if "frames" in predictions[i]["explanation"]:
            data = heatmap_png(attribution)
        else:
            given = images[i] if i < len(images) else None
            image = given if given is not None else np.full((3, *attribution.shape), 0.5)
            data = overlay_png(image, attribution, scale=max(1, math.ceil(224 / min(attribution.shape))))
        target.write_bytes(data)
        written.append(target)
    return written
