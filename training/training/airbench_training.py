"""What the airbench family trains with beyond the shared CNN loop (training.cnn_training).

From Keller Jordan's published airbench94 recipe (2024), in this project's own code:
- the frozen first layer whitens the training images' 2x2 patches (set once, before step 0); its
  bias trains for the first `WHITEN_BIAS_EPOCHS` epochs, then stays;
- BatchNorm shifts learn `BIAS_SCALER` times faster than the other weights, at the same decay;
- lookahead weight averaging: every `LOOKAHEAD_EVERY` steps the average moves toward the weights
  by 1 - decay and the weights are reset to it, with decay = `LOOKAHEAD_DECAY` * progress^3 (nothing
  early, strong late); the exported model is the average;
- alternating flips: each image is flipped at random in the first epoch, then the other way each
  epoch after, so every two epochs see both orientations.

Everything here depends on the step and the seed only, never on a clock, so the ranks of a
data-parallel job stay identical, and a resumed job continues with its checkpointed average.
"""

from __future__ import annotations

from typing import Any

import torch

from training.hyperparameters import Hyperparameters
from training.models.airbench import WHITENING_IMAGES, AirbenchClassifier

BIAS_SCALER = 64.0
WHITEN_BIAS_EPOCHS = 3
LOOKAHEAD_EVERY = 5
LOOKAHEAD_DECAY = 0.95**5


class AirbenchRecipe:
    """One rank's airbench extras around `classifier`, a freshly built `AirbenchClassifier`."""

    def __init__(
        self, classifier: AirbenchClassifier, hp: Hyperparameters, train_pixels: torch.Tensor, steps_per_epoch: int
    ) -> None:
        self.classifier = classifier
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = max(1, steps_per_epoch * hp.epochs)
        device = classifier.head.weight.device
        classifier.init_whitening(train_pixels[:WHITENING_IMAGES].to(device).float().div(255.0))
        generator = torch.Generator().manual_seed(hp.seed)
        self.first_flips = torch.rand(len(train_pixels), generator=generator) < 0.5
        self.average = {k: v.detach().clone() for k, v in self._state().items()}

    def _state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.classifier.state_dict().items() if v.dtype.is_floating_point}

    def param_groups(self, hp: Hyperparameters) -> list[dict[str, Any]]:
        """SGD groups: the BatchNorm shifts at `BIAS_SCALER` x the learning rate with the weight decay
        divided by it (the same decay per step), the whitening bias, and every other trained weight."""
        shifts = self.classifier.norm_shift_parameters()
        whitening = self.classifier.whitening_bias_parameters()
        special = {id(p) for p in shifts + whitening}
        others = [p for p in self.classifier.parameters() if p.requires_grad and id(p) not in special]
        return [
            {"params": shifts, "weight_decay": hp.weight_decay / BIAS_SCALER, "lr_scale": BIAS_SCALER},
            {"params": whitening, "weight_decay": hp.weight_decay, "lr_scale": 1.0, "whitening": True},
            {"params": others, "weight_decay": hp.weight_decay, "lr_scale": 1.0},
        ]

    def set_learning_rates(self, optimizer: torch.optim.Optimizer, learning_rate: float, step: int) -> None:
        frozen = step // self.steps_per_epoch >= WHITEN_BIAS_EPOCHS
        for group in optimizer.param_groups:
            group["lr"] = 0.0 if (frozen and group.get("whitening")) else learning_rate * group["lr_scale"]

    def flips(self, index: torch.Tensor, step: int) -> torch.Tensor:
        """Whether each image of the batch (`index` into the train set) is flipped at `step`."""
        epoch = step // self.steps_per_epoch
        return self.first_flips[index] ^ bool(epoch % 2)

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        """Lookahead after step `step` (0-based): every `LOOKAHEAD_EVERY` optimizer steps."""
        done = step + 1
        if done % LOOKAHEAD_EVERY:
            return
        decay = LOOKAHEAD_DECAY * min(1.0, done / self.total_steps) ** 3
        self._pull(decay)

    @torch.no_grad()
    def finish(self) -> None:
        """The weights become the average (the lookahead's last step, with decay 1)."""
        self._pull(1.0)

    def _pull(self, decay: float) -> None:
        for key, value in self._state().items():
            average = self.average[key]
            average.lerp_(value, 1.0 - decay)
            value.copy_(average)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.average

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            self.average[key].copy_(value)
