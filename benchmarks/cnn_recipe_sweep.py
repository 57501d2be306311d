"""CNN recipe sweep: validation accuracy of recipe variants at fixed epoch counts, fast on any device.

The time-budgeted benchmark (`train_bench.py`) tells how many epochs a 2-core CPU reaches in 600 s
for each width; this sweep answers which recipe is best at that many epochs, and runs in minutes on
a GPU, where the CPU would need ten minutes a run. Each run trains with the product's own
`CNNTrainer` and `EpochLoop` (bf16 autocast, one-cycle schedule) on the same seeded 10% split as
`make bench-train`, and reports validation accuracy with and without the test-time flip the artifact
applies. The product's families are chosen with the `family` hyperparameter (`residual`, `airbench`).
Variants that are not part of the product (the first experiments with a frozen 2x2 patch-whitening stem
on the residual network, `whiten`, and airbench blocks on the residual recipe, `air`; alternating
flips and an EMA of the weights on the residual family) are defined here.

    python -m benchmarks.cnn_recipe_sweep --data ../shared/datasets/cifar10-dev \\
        --configs benchmarks/results/cnn_sweep/round1.json --device cuda --parallel 8

Each config is a JSON object of CNN hyperparameters plus optional `arch` (base: the product's network
of the config's `family` | whiten | air), `altflip` (0/1) and `ema` (decay per step, 0: none).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SWEEP_KEYS = ("tag", "arch", "altflip", "ema")


def _whitening_weights(images01: Any, mean: tuple[float, ...], std: tuple[float, ...], eps: float = 5e-4) -> Any:
    """2x2 patch-whitening filters (both signs) from the covariance of normalised training patches."""
    import torch

    x = (images01 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    patches = x.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 12).double()
    patches = patches - patches.mean(0)
    evals, evecs = torch.linalg.eigh(patches.T @ patches / len(patches))
    weights = (evecs.T / torch.sqrt(evals.clamp_min(0) + eps).view(-1, 1)).view(-1, 3, 2, 2)
    return torch.cat([weights, -weights]).float()


def build_classifier(arch: str, config: Any) -> Any:
    import torch.nn.functional as F
    from torch import nn
    from training.models.cnn import ImageClassifier, _conv_bn

    if arch == "base":
        return ImageClassifier(config)

    class Whiten(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 24, 2, padding=0, bias=True)
            self.conv.weight.requires_grad_(False)

        def forward(self, x: Any) -> Any:
            return F.gelu(self.conv(x))

    model = ImageClassifier(config)
    w = config.width
    model.stem = Whiten()
    if arch == "whiten":
        model.stages[0][0] = _conv_bn(24, 2 * w)
    elif arch == "air":  # airbench94's blocks (conv, pool, BN, GELU, conv) at widths 2w, 8w, 8w

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.MaxPool2d(2),
                nn.BatchNorm2d(cout),
                nn.GELU(),
                _conv_bn(cout, cout),
            )

        model.stages = nn.Sequential(block(24, 2 * w), block(2 * w, 8 * w), block(8 * w, 8 * w))
        model.head = nn.Linear(8 * w, config.num_classes, bias=False)
    else:
        raise ValueError(f"unknown arch {arch!r}: base, whiten or air")
    model.init_whitening = lambda pixels: model.stem.conv.weight.data.copy_(
        _whitening_weights(pixels[:5000].float() / 255, config.mean, config.std)
    )
    return model


def _trainer_class(cfg: dict[str, Any]) -> Any:
    import torch
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    from training.cnn_training import CNNTrainer, augment, to_unit_float

    from training import cnn_training

    arch = cfg.get("arch", "base")
    if arch != "base":  # an experimental network in place of the product's
        cnn_training.build_classifier = lambda config: build_classifier(arch, config)

    class SweepTrainer(CNNTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if arch == "base":  # the product's network and optimizer; only the sweep's EMA and flips
                self.ema = (
                    AveragedModel(
                        self.classifier, multi_avg_fn=get_ema_multi_avg_fn(float(cfg["ema"])), use_buffers=True
                    )
                    if float(cfg.get("ema", 0))
                    else None
                )
                return
            if hasattr(self.classifier, "init_whitening"):
                self.classifier.init_whitening(self.train_x)
                self.classifier.to(memory_format=torch.channels_last)
            decay = float(cfg.get("ema", 0))
            self.ema = (
                AveragedModel(self.classifier, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
                if decay
                else None
            )
            params = [p for p in self.classifier.parameters() if p.requires_grad]
            self.optimizer = torch.optim.SGD(
                [
                    {"params": [p for p in params if p.ndim > 1], "weight_decay": self.hp.weight_decay},
                    {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
                ],
                lr=self.hp.learning_rate,
                momentum=self.hp.momentum,
                nesterov=True,
            )

        def augmented_images(self, index: Any, step: int) -> Any:
            if not cfg.get("altflip"):
                return super().augmented_images(index, step)
            # each image alternates orientation from one epoch to the next
            parity = ((index * 2654435761) >> 11) & 1
            flip = (parity ^ ((step // self.steps_per_epoch) & 1)).bool()
            pixels = self.train_x[index]
            pixels = torch.where(flip.view(-1, 1, 1, 1), pixels.flip(3), pixels)
            return to_unit_float(augment(pixels, self.hp.crop_padding, self.step_generator(step), False))

        def train_batch(self, batch: np.ndarray, learning_rate: float, step: int) -> tuple[float, float, float]:
            sums = super().train_batch(batch, learning_rate, step)
            if self.ema is not None:
                self.ema.update_parameters(self.classifier)
            return sums

    return SweepTrainer


def run_config(cfg: dict[str, Any], cache: str, device_name: str, threads: int = 2) -> dict[str, Any]:
    import torch
    from training.data.folders import Dataset
    from training.distributed import Topology
    from training.hyperparameters import parse_hyperparameters
    from training.loop import EpochLoop, StopSignal
    from training.schedule import Budget

    torch.set_num_threads(threads)
    arrays = np.load(cache)
    names = [str(n) for n in arrays["names"]]
    train = Dataset(arrays["tx"], arrays["ty"], names, None, Path(cache))
    validation = Dataset(arrays["vx"], arrays["vy"], names, None, Path(cache))
    hp = parse_hyperparameters({"model": "cnn", **{k: str(v) for k, v in cfg.items() if k not in SWEEP_KEYS}})
    topo = Topology(hosts=("algo-1",), host_rank=0, processes_per_host=1, local_rank=0, port=29500)
    device = torch.device(device_name)
    started = time.monotonic()
    trainer = _trainer_class(cfg)(hp, train, validation, topo, device)
    history = EpochLoop(
        trainer,
        epochs=hp.epochs,
        peak_lr=hp.learning_rate,
        warmup_fraction=hp.warmup_fraction,
        lr_start_fraction=hp.lr_start_fraction,
        lr_end_fraction=hp.lr_end_fraction,
        budget=Budget(0),
        stop=StopSignal(),
        checkpoints=None,
        is_master=False,
    ).run()
    if trainer.airbench is not None:
        trainer.airbench.finish()  # as export does: the airbench family serves its weights' average
    model = (trainer.ema.module if trainer.ema is not None else trainer.classifier).eval()
    with torch.no_grad():
        x = (torch.from_numpy(arrays["vx"]).float() / 255).to(device).contiguous(memory_format=torch.channels_last)
        probabilities = torch.softmax(model(x), 1) + torch.softmax(model(torch.flip(x, dims=(3,))), 1)
    flip_accuracy = float((probabilities.argmax(1).cpu() == torch.from_numpy(arrays["vy"])).float().mean())
    return {
        **cfg,
        "val_acc": history[-1]["val_accuracy"],
        "tta_acc": round(flip_accuracy, 4),
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="cifar10-dev/ (ImageFolder layout): training images")
    parser.add_argument(
        "--validation",
        type=Path,
        help="held-out images in class folders (benchmarks.cifar_holdout); default: a seeded 10%% of --data",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--configs", type=Path, required=True, help="JSON list of configs")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--parallel", type=int, default=8, help="runs at once (they share the device)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file the results go to, as they come")
    args = parser.parse_args(argv)
    from training.data.images import ImageSettings, load_image_folder
    from training.data.split import split_train_validation

    configs = json.loads(args.configs.read_text())
    settings = ImageSettings(32)
    if args.validation:
        train = load_image_folder(args.data, settings, workers=8)
        validation = load_image_folder(args.validation, settings, train.class_names, workers=8)
    else:
        train, validation = split_train_validation(load_image_folder(args.data, settings, workers=8), 0.1, 0)
    cache = str(args.out.with_suffix(".data.npz"))
    np.savez(
        cache,
        tx=train.inputs,
        ty=train.labels,
        vx=validation.inputs,
        vy=validation.labels,
        names=np.array(train.class_names),
    )
    results = []
    with ProcessPoolExecutor(args.parallel) as pool:
        futures = [pool.submit(run_config, cfg, cache, args.device, args.threads) for cfg in configs]
        for future in as_completed(futures):
            results.append(future.result())
            print(json.dumps(results[-1]), flush=True)
            args.out.write_text(json.dumps(results, indent=1) + "\n")
    Path(cache).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
