"""Training the CNN: SGD with Nesterov momentum, label smoothing, one-cycle schedule, flip and crop.

Data stays in memory as uint8 NCHW pixels; augmentation runs on whole batches (cheap on a CPU).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.data.folders import Dataset
from training.hyperparameters import Hyperparameters
from training.models.cnn import CNNConfig, ImageClassifier, export_cnn, load_exported
from training.reporting import EpochMetrics, emit, progress
from training.schedule import Budget, one_cycle
from training.schedule import progress as schedule_progress

log = logging.getLogger(__name__)
MODEL_FILE = "model.pt2"


def to_unit_float(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float().div_(255.0)


def augment(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and random translation by up to `padding` pixels (reflect-padded)."""
    n, _, h, w = images.shape
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip.view(n, 1, 1, 1), images.flip(3), images)
    if padding <= 0:
        return images
    padded = F.pad(images, (padding,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    rows = (torch.arange(h).view(1, h) + dy.view(n, 1)).view(n, 1, h, 1)
    cols = (torch.arange(w).view(1, w) + dx.view(n, 1)).view(n, 1, 1, w)
    batch = torch.arange(n).view(n, 1, 1, 1)
    channels = torch.arange(images.shape[1]).view(1, -1, 1, 1)
    return padded[batch, channels, rows, cols]


@torch.no_grad()
def predict_logits(model: torch.nn.Module, pixels: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    model.eval()
    outputs = [model(to_unit_float(pixels[i:i + batch_size]).contiguous(memory_format=torch.channels_last))
               for i in range(0, len(pixels), batch_size)]
    return torch.cat(outputs)


class CNNTrainer:
    """Holds the model, optimizer and progress of one training job."""

    def __init__(self, hp: Hyperparameters, train: Dataset, validation: Dataset, budget: Budget) -> None:
        self.hp = hp
        self.budget = budget
        torch.manual_seed(hp.seed)
        self.train_x = torch.from_numpy(train.inputs)
        self.train_y = torch.from_numpy(train.labels)
        self.val_x = torch.from_numpy(validation.inputs)
        self.val_y = torch.from_numpy(validation.labels)
        self.config = CNNConfig(num_classes=len(train.class_names), image_size=hp.image_size, width=hp.width)
        self.model = ImageClassifier(self.config).to(memory_format=torch.channels_last)
        decay = [p for p in self.model.parameters() if p.ndim > 1]
        no_decay = [p for p in self.model.parameters() if p.ndim <= 1]
        self.optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": self.hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hp.learning_rate, momentum=self.hp.momentum, nesterov=True)
        self.steps_per_epoch = max(1, len(self.train_y) // self.hp.batch_size)
        self.step = 0
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    @property
    def total_steps(self) -> int:
        return self.hp.epochs * self.steps_per_epoch

    def _set_learning_rate(self) -> float:
        fraction = schedule_progress(self.step, self.total_steps, self.budget)
        lr = one_cycle(fraction, self.hp.learning_rate, self.hp.warmup_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_epoch(self) -> EpochMetrics:
        started = time.monotonic()
        generator = torch.Generator().manual_seed(self.hp.seed * 1000 + self.epoch)
        order = torch.randperm(len(self.train_y), generator=generator)
        batches = [order[i * self.hp.batch_size:(i + 1) * self.hp.batch_size]
                   for i in range(self.steps_per_epoch)]
        self.model.train()
        loss_sum, correct, seen, lr = 0.0, 0, 0, 0.0
        for index in progress(batches, len(batches), f"epoch {self.epoch + 1}/{self.hp.epochs}"):
            if self.budget.exhausted():
                log.info("time budget of %.0f s spent: stopping in epoch %d", self.budget.seconds, self.epoch + 1)
                break
            lr = self._set_learning_rate()
            images = augment(to_unit_float(self.train_x[index]), self.hp.crop_padding, generator)
            labels = self.train_y[index]
            logits = self.model(images.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, labels, label_smoothing=self.hp.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            loss_sum += loss.item() * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
        train_time = time.monotonic() - started
        val_logits = predict_logits(self.model, self.val_x)
        val_loss = float(F.cross_entropy(val_logits, self.val_y))
        val_accuracy = float((val_logits.argmax(1) == self.val_y).float().mean())
        self.epoch += 1
        metrics = EpochMetrics(epoch=self.epoch, epochs=self.hp.epochs, train_loss=loss_sum / max(seen, 1),
                               train_accuracy=correct / max(seen, 1), val_loss=val_loss, val_accuracy=val_accuracy,
                               lr=lr, epoch_time_s=time.monotonic() - started,
                               samples_per_s=seen / max(train_time, 1e-9))
        self.history.append(metrics.as_dict())
        return metrics

    def finished(self) -> bool:
        return self.epoch >= self.hp.epochs or self.budget.exhausted()

    def fit(self) -> list[dict[str, float]]:
        while not self.finished():
            emit(self.train_epoch().line())
        return self.history

    def export(self, model_dir: Path) -> Path:
        path = model_dir / MODEL_FILE
        export_cnn(self.model, path, self.hp.test_time_flip)
        return path

    def input_contract(self) -> dict[str, object]:
        size = self.config.image_size
        return {"kind": "image", "height": size, "width": size, "channels": 3, "color_mode": "RGB",
                "resize": "bilinear", "scale": 1 / 255, "mean": list(self.config.mean), "std": list(self.config.std),
                "normalization_in_model": True, "layout": "NCHW", "dtype": "float32"}


def predict_with_artifact(path: Path, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities from the exported program itself, so the evaluation is the artifact's."""
    model = load_exported(path)
    outputs = []
    with torch.inference_mode():
        for i in range(0, len(pixels), batch_size):
            outputs.append(model(to_unit_float(torch.from_numpy(pixels[i:i + batch_size]))).numpy())
    return np.concatenate(outputs)
