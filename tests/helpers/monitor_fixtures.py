"""A small image-model artifact with a reference profile, and captured requests for it, in the real layouts.

The embedding program is a real torch.export program (a fixed random projection of the pixels), so the
monitor runs its whole path; the profile and the captures are built from images whose distribution a
test controls (brightness), and the captures are written by the server's own capture record.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from inference.capture import model_version, record
from PIL import Image
from training.artifact import image_input

CLASSES = ["a", "b", "c"]
SIZE = 8


def images(rng: np.random.Generator, n: int, brightness: float = 0.5) -> np.ndarray:
    """(n, 3, SIZE, SIZE) float32 in [0, 1] around `brightness`, with a per-image pattern."""
    base = rng.uniform(0, 1, size=(n, 3, SIZE, SIZE)).astype(np.float32) * 0.4
    return np.clip(base + brightness - 0.2, 0, 1).astype(np.float32)


def probabilities(rng: np.random.Generator, n: int) -> np.ndarray:
    logits = rng.normal(size=(n, len(CLASSES))) * 2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _embedding_program(path: Path) -> None:
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * SIZE * SIZE, 6), torch.nn.Tanh()).eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        program = torch.export.export(module, (torch.rand(2, 3, SIZE, SIZE),), dynamic_shapes={"input": {0: batch}})
    torch.export.save(program, str(path))


def _embed(model_dir: Path, pixels: np.ndarray) -> np.ndarray:
    import torch

    module = torch.export.load(str(model_dir / "embed.pt2")).module()
    with torch.inference_mode():
        return module(torch.from_numpy(pixels)).numpy()


def make_artifact(root: Path, *, with_profile: bool = True, rows: int = 400, seed: int = 0) -> Path:
    model_dir = root / "model"
    model_dir.mkdir(parents=True)
    manifest = {
        "schema_version": 1,
        "name": "cnn",
        "framework": "pytorch",
        "framework_version": "2",
        "task": "image_classification",
        "model_file": "model.pt2",
        "class_names": CLASSES,
        "input": image_input(SIZE),
        "output": {"kind": "probabilities"},
        "created_at": f"2026-12-07T00:00:0{seed}Z",
    }
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    (model_dir / "model.pt2").write_bytes(b"")  # the monitor never loads the served program
    _embedding_program(model_dir / "embed.pt2")
    if not with_profile:
        return model_dir
    rng = np.random.default_rng(seed)
    pixels = images(rng, rows)
    luma = 0.299 * pixels[:, 0] + 0.587 * pixels[:, 1] + 0.114 * pixels[:, 2]
    arrays = {
        "probabilities": probabilities(rng, rows),
        "embedding/penultimate": _embed(model_dir, pixels),
        "statistic/brightness": luma.reshape(rows, -1).mean(axis=1).astype(np.float64),
        "statistic/contrast": luma.reshape(rows, -1).std(axis=1).astype(np.float64),
    }
    np.savez_compressed(model_dir / "reference_profile.npz", **arrays)
    profile = {"schema_version": 1, "model": "cnn", "class_names": CLASSES, "arrays": "reference_profile.npz"}
    (model_dir / "reference_profile.json").write_text(json.dumps(profile))
    return model_dir


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((pixels.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_captures(
    path: Path, model_dir: Path, n: int, *, brightness: float = 0.5, seed: int = 1, version: str | None = None
) -> list[str]:
    """n single-image requests with their answers, as the server's capture writes them; returns the ids."""
    rng = np.random.default_rng(seed)
    pixels, probs = images(rng, n, brightness), probabilities(rng, n)
    version = version or model_version(model_dir)
    ids = [f"req-{seed}-{i}" for i in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for i in range(n):
            answer = {
                "model": "cnn",
                "predictions": [
                    {
                        "label": CLASSES[int(probs[i].argmax())],
                        "index": int(probs[i].argmax()),
                        "probabilities": probs[i].tolist(),
                    }
                ],
            }
            out.write(record(png(pixels[i]), "image/png", json.dumps(answer).encode(), ids[i], version) + "\n")
    return ids
