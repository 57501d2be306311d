"""Training the CNN: SGD with Nesterov momentum, label smoothing, one-cycle schedule, flip and crop.

The airbench family adds its own extras (training.airbench_training): per-group learning rates,
lookahead weight averaging, alternating flips, and a whitening layer set from the data.

Data stays in memory as uint8 NCHW pixels; augmentation runs on whole batches (cheap on a CPU).
Several ranks train data-parallel with DistributedDataParallel (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from training.airbench_training import AirbenchRecipe
from training.artifact import image_input
from training.data.folders import Dataset
from training.distributed import Topology
from training.hyperparameters import DEFAULT_CNN_FAMILY, Hyperparameters
from training.models.airbench import AirbenchClassifier
from training.models.cnn import CNNConfig, build_classifier, export_cnn, export_explainer, load_exported
from training.sampler import global_batches, rank_share, step_seed
from training.schedule import Budget, progress
from training.security.adversarial_training import adversarial_phase, pgd_examples

log = logging.getLogger(__name__)
MODEL_FILE = "model.pt2"
EXPLAIN_FILE = "explain.pt2"


def to_unit_float(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float().div_(255.0)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Map indices in [-size + 1, 2 * size - 2] back into [0, size) as reflect padding does (edge not repeated)."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def augment(
    pixels: torch.Tensor,
    padding: int,
    generator: torch.Generator,
    flip: bool = True,
    flipped: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random horizontal flip (when `flip`; `flipped` says which images instead of chance) and random
    translation by up to `padding` pixels (reflect-padded).

    Works on any dtype; on uint8 pixels it is one gather over a quarter of the bytes of float
    images, which keeps augmentation a small share of a bf16 training step.
    """
    n, c, h, w = pixels.shape
    if not flip:
        flipped = torch.zeros(n, dtype=torch.bool)
    elif flipped is None:
        flipped = torch.rand(n, generator=generator) < 0.5
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator) - padding if padding > 0 else torch.zeros(n)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator) - padding if padding > 0 else torch.zeros(n)
    rows = _reflect(torch.arange(h).view(1, h) + dy.long().view(n, 1), h)
    cols = _reflect(torch.arange(w).view(1, w) + dx.long().view(n, 1), w)
    cols = torch.where(flipped.view(n, 1), w - 1 - cols, cols)
    batch = torch.arange(n).view(n, 1, 1, 1)
    channels = torch.arange(c).view(1, c, 1, 1)
    return pixels[batch, channels, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix work runs natively here: a CUDA GPU with bf16, or a CPU with AVX-512 BF16 or AMX.

    Elsewhere bf16 is emulated and slower than float32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return bool(cpu._is_avx512_bf16_supported() or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the `precision` hyperparameter (None: plain float32)."""
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def autocast(dtype: torch.dtype | None, device: torch.device) -> torch.autocast:
    """The autocast context for an `autocast_dtype` result (None: disabled, plain float32)."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def init_process_group(topo: Topology) -> torch.device:
    """Join the DDP group (when there is more than one rank) and pick this rank's device."""
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", topo.local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if topo.world_size > 1:
        log.info(
            "joining DDP: rank %d of %d, master %s:%d, backend %s",
            topo.rank,
            topo.world_size,
            topo.master_address,
            topo.port,
            "nccl" if cuda else "gloo",
        )
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            init_method=f"tcp://{topo.master_address}:{topo.port}",
            rank=topo.rank,
            world_size=topo.world_size,
            timeout=timedelta(minutes=10),
        )
    return device


class CNNTrainer:
    """One rank's model, optimizer and data; implements `loop.EpochTrainer`."""

    def __init__(
        self,
        hp: Hyperparameters,
        train: Dataset,
        validation: Dataset,
        topo: Topology,
        device: torch.device,
        budget: Budget | None = None,  # where the schedule stands, for adversarial training's phase
    ) -> None:
        if hp.width < 1 or hp.epochs < 1:
            raise ValueError(
                f"CNNTrainer needs a resolved width and epochs (got {hp.width}, {hp.epochs}: 0 is auto); "
                "resolve them with training.cnn_recipe.resolve or training.recipe.with_default_recipe"
            )
        self.hp = hp
        self.budget = budget
        self.topo = topo
        self.device = device
        torch.manual_seed(hp.seed)
        self.train_x = torch.from_numpy(train.inputs)
        self.train_y = torch.from_numpy(train.labels)
        share = slice(topo.rank, None, topo.world_size)  # validation is split across ranks and summed
        self.val_x = torch.from_numpy(validation.inputs[share])
        self.val_y = torch.from_numpy(validation.labels[share])
        family = DEFAULT_CNN_FAMILY if hp.family == "auto" else hp.family  # unresolved: the default recipe's
        self.config = CNNConfig(len(train.class_names), image_size=hp.image_size, width=hp.width, family=family)
        self.classifier = build_classifier(self.config).to(device, memory_format=torch.channels_last)
        self.steps_per_epoch = max(1, len(self.train_y) // hp.batch_size)
        self.airbench = (
            AirbenchRecipe(self.classifier, hp, self.train_x, self.steps_per_epoch)
            if isinstance(self.classifier, AirbenchClassifier)
            else None
        )
        self.model: torch.nn.Module = self.classifier
        if topo.world_size > 1:
            device_ids = [device.index] if device.type == "cuda" else None
            self.model = DistributedDataParallel(self.classifier, device_ids=device_ids)
        self.optimizer = torch.optim.SGD(
            self.airbench.param_groups(hp) if self.airbench is not None else self._param_groups(),
            lr=hp.learning_rate,
            momentum=hp.momentum,
            nesterov=True,
        )
        # Mixed precision: bf16 convolutions (about 2x on CPUs with AVX-512 BF16), float32 weights,
        # optimizer and loss; the exported model is float32.
        self.autocast = autocast_dtype(hp.precision, device)
        log.info("precision: %s", "bf16 autocast" if self.autocast else "float32")

    def _param_groups(self) -> list[dict[str, object]]:
        """Weight decay on the convolutions and the head, none on BatchNorm's scales and shifts."""
        decay = [p for p in self.classifier.parameters() if p.ndim > 1]
        no_decay = [p for p in self.classifier.parameters() if p.ndim <= 1]
        return [{"params": decay, "weight_decay": self.hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def _autocast(self) -> torch.autocast:
        return autocast(self.autocast, self.device)

    def batches(self, epoch: int) -> Sequence[np.ndarray]:
        return [
            rank_share(b, self.topo.rank, self.topo.world_size)
            for b in global_batches(len(self.train_y), self.hp.batch_size, self.hp.seed, epoch)
        ]

    def step_generator(self, step: int) -> torch.Generator:
        """This rank's augmentation randomness for `step`: a resumed run draws the same."""
        seed = np.random.SeedSequence(step_seed(self.hp.seed, step, self.topo.rank)).generate_state(1)[0]
        return torch.Generator().manual_seed(int(seed))

    def augmented_images(self, index: torch.Tensor, step: int) -> torch.Tensor:
        """The batch's training images, augmented, as float in [0, 1]."""
        flipped = self.airbench.flips(index, step) if self.airbench is not None else None
        generator = self.step_generator(step)
        pixels = augment(self.train_x[index], self.hp.crop_padding, generator, self.hp.random_flip, flipped)
        return to_unit_float(pixels)

    def train_batch(self, batch: np.ndarray, learning_rate: float, step: int) -> tuple[float, float, float]:
        if self.airbench is not None:
            self.airbench.set_learning_rates(self.optimizer, learning_rate, step)
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
        index = torch.from_numpy(batch)
        images = self.augmented_images(index, step)
        labels = self.train_y[index].to(self.device)
        if self.adversarial_step(step):
            images = self.adversarial_images(images.to(self.device), labels, step)
        self.model.train()
        with self._autocast():
            logits = self.model(images.to(self.device).contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.hp.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.airbench is not None:
            self.airbench.after_step(step)
        return loss.item() * len(labels), float((logits.argmax(1) == labels).sum()), float(len(labels))

    def adversarial_step(self, step: int) -> bool:
        """In adversarial training's phase: the last `adversarial_fraction` of the schedule."""
        if self.hp.adversarial_fraction <= 0:
            return False
        position = progress(
            step, self.steps_per_epoch * self.hp.epochs, self.budget.fraction() if self.budget is not None else 0.0
        )
        return adversarial_phase(position, self.hp.adversarial_fraction)

    def adversarial_images(self, images: torch.Tensor, labels: torch.Tensor, step: int) -> torch.Tensor:
        """The batch's PGD examples against the current weights (batch norm in eval mode, so the
        attack's forward passes leave its running statistics alone)."""
        self.classifier.eval()
        with self._autocast():
            adversarial = pgd_examples(
                self.classifier,
                images.contiguous(memory_format=torch.channels_last),
                labels,
                self.hp.adversarial_eps,
                self.hp.adversarial_steps,
                self.step_generator(step),
            )
        return adversarial

    @torch.no_grad()
    def validate(self) -> tuple[float, float]:
        self.classifier.eval()
        loss_sum, correct = 0.0, 0.0
        for i in range(0, len(self.val_y), 512):
            images = (
                to_unit_float(self.val_x[i : i + 512]).to(self.device).contiguous(memory_format=torch.channels_last)
            )
            labels = self.val_y[i : i + 512].to(self.device)
            with self._autocast():
                logits = self.classifier(images).float()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            correct += float((logits.argmax(1) == labels).sum())
        loss_sum, correct, count = self.all_sum([loss_sum, correct, float(len(self.val_y))])
        return loss_sum / max(count, 1), correct / max(count, 1)

    def all_sum(self, values: Sequence[float]) -> list[float]:
        if self.topo.world_size == 1:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def write_state(self, path: Path) -> None:
        state = {
            "model": self.classifier.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.airbench is not None:
            state["weight_average"] = self.airbench.state_dict()
        torch.save(state, path)

    def read_state(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.classifier.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if self.airbench is not None:
            self.airbench.load_state_dict(state["weight_average"])

    def close(self, completed: bool) -> None:
        """Leave the DDP group. After a completed run the ranks meet first, so none exits while a peer
        still has collective traffic in flight (gloo aborts the process otherwise)."""
        if self.topo.world_size > 1 and dist.is_initialized():
            if completed:
                dist.barrier()
            dist.destroy_process_group()

    def weights_checksum(self) -> float:
        """Equal on every rank when data parallelism keeps the replicas in step."""
        return float(sum(p.detach().double().abs().sum() for p in self.classifier.parameters()))

    def export(self, model_dir: Path) -> Path:
        if self.airbench is not None:
            self.airbench.finish()  # the exported model is the weights' average
        path = model_dir / MODEL_FILE
        export_cnn(self.classifier, path, self.hp.test_time_flip)
        export_explainer(self.classifier, model_dir / EXPLAIN_FILE, self.hp.test_time_flip)
        self.explanation = {"model_file": EXPLAIN_FILE, "output": "logits"}
        return path

    def input_contract(self) -> dict[str, object]:
        return image_input(self.config.image_size, self.config.mean, self.config.std)


def predict_with_artifact(path: Path, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities from the exported program itself, so the evaluation is the artifact's."""
    model = load_exported(path)
    outputs = []
    with torch.inference_mode():
        for i in range(0, len(pixels), batch_size):
            outputs.append(model(to_unit_float(torch.from_numpy(pixels[i : i + batch_size]))).numpy())
    return np.concatenate(outputs)
