"""Levers from the airbench record tried against this machine and this data, each printing what it measured.

- `tta-translate`: held-out accuracy of exported artifacts (`model.pt2`, which already averages each
  image with its mirror) alone, and with airbench's 1-pixel translations added: half the image's own
  output, a quarter each of the image shifted one pixel up-left and down-right (reflect-padded).
- `compile`: training steps per second of the airbench network (width 32, bf16 autocast, SGD) eager
  and under `torch.compile`, alternating in one process, and the compile's own seconds.
- `whitening-precision`: the relative error bf16 autocast leaves on each whitened channel of real
  images, and the training step rate with the whitening layer in float32 against bf16.

    python -m benchmarks.cnn_levers tta-translate --holdout /tmp/cifar45k/holdout RUN/model/model.pt2 ...
    python -m benchmarks.cnn_levers compile
    python -m benchmarks.cnn_levers whitening-precision --holdout /tmp/cifar45k/holdout

The holdout is the 5,000 images `benchmarks.cifar_holdout` keeps out of training. Rates compare
variants measured in turn within one run (medians of rounds); absolute rates depend on the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from training.data.images import ImageSettings, load_image_folder
from training.models.airbench import AirbenchClassifier
from training.models.cnn import CNNConfig, load_exported


def _holdout(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_image_folder(folder, ImageSettings(32))
    return torch.from_numpy(data.inputs).float() / 255, torch.from_numpy(data.labels)


def _outputs(model: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([model(images[i : i + 500].contiguous()) for i in range(0, len(images), 500)])


def tta_translate(holdout: Path, artifacts: list[Path]) -> list[dict[str, object]]:
    images, labels = _holdout(holdout)
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect")
    rows = []
    for artifact in artifacts:
        model = load_exported(artifact)
        own = _outputs(model, images)
        up_left = _outputs(model, padded[:, :, :32, :32])
        down_right = _outputs(model, padded[:, :, 2:, 2:])
        translated = 0.5 * own + 0.25 * up_left + 0.25 * down_right
        rows.append(
            {
                "artifact": str(artifact),
                "accuracy_flip": round(float((own.argmax(1) == labels).float().mean()), 4),
                "accuracy_flip_translate": round(float((translated.argmax(1) == labels).float().mean()), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _network(batch: int) -> tuple[AirbenchClassifier, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = AirbenchClassifier(CNNConfig(10, image_size=32, width=32, family="airbench"))
    model = model.to(memory_format=torch.channels_last)
    images = torch.rand(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    model.init_whitening(images)
    return model, images, torch.randint(0, 10, (batch,))


def _rates(variants: dict[str, Callable[[], None]], batch: int, rounds: int, steps: int) -> dict[str, float]:
    measured: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, step in variants.items():
            step()  # untimed: caches and allocator settle after the other variant ran
            started = time.perf_counter()
            for _ in range(steps):
                step()
            measured[name].append(steps * batch / (time.perf_counter() - started))
    return {name: round(statistics.median(rates), 1) for name, rates in measured.items()}


def compile_rates(batch: int = 512, rounds: int = 5, steps: int = 3) -> dict[str, object]:
    model, images, labels = _network(batch)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.85)
    compiled = torch.compile(model)

    def step_with(network: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = network(images)
            loss = F.cross_entropy(logits.float(), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    started = time.perf_counter()
    step_with(compiled)()
    compile_s = time.perf_counter() - started
    rates = _rates({"eager": step_with(model), "compiled": step_with(compiled)}, batch, rounds, steps)
    return {
        "samples_per_s": rates,
        "compiled_over_eager": round(rates["compiled"] / rates["eager"], 3),
        "first_compiled_step_s": round(compile_s, 1),
    }


class _Float32(torch.nn.Module):
    """`layer` computed in float32 even under autocast."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.layer(x.float())


def whitening_precision(holdout: Path, batch: int = 256, rounds: int = 6, steps: int = 4) -> dict[str, object]:
    images, _ = _holdout(holdout)
    model, batch_images, labels = _network(batch)
    model.init_whitening(images[:5000])
    sample = model.normalise(images[:2000])
    with torch.no_grad():
        exact = model.whiten(sample)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rounded = model.whiten(sample).float()
    error = (rounded - exact).pow(2).mean((0, 2, 3)).sqrt() / exact.pow(2).mean((0, 2, 3)).sqrt()
    bf16_whiten = model.whiten
    float32_whiten = _Float32(bf16_whiten)

    def step_with(whiten: torch.nn.Module) -> Callable[[], None]:
        def step() -> None:
            model.whiten = whiten
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(batch_images)
            F.cross_entropy(logits.float(), labels).backward()

        return step

    rates = _rates({"float32": step_with(float32_whiten), "bf16": step_with(bf16_whiten)}, batch, rounds, steps)
    return {
        "relative_rms_error_bf16_per_channel": [round(float(e), 3) for e in error[:12]],
        "samples_per_s": rates,
        "float32_over_bf16": round(rates["float32"] / rates["bf16"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="lever", required=True)
    tta = sub.add_parser("tta-translate")
    tta.add_argument("--holdout", type=Path, required=True)
    tta.add_argument("artifacts", type=Path, nargs="+")
    sub.add_parser("compile")
    precision = sub.add_parser("whitening-precision")
    precision.add_argument("--holdout", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps({"load_average": os.getloadavg(), "torch": torch.__version__}))
    if args.lever == "tta-translate":
        tta_translate(args.holdout, args.artifacts)
    elif args.lever == "compile":
        print(json.dumps(compile_rates()))
    else:
        print(json.dumps(whitening_precision(args.holdout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
