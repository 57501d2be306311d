"""The airbench-style family: a frozen, whitened first convolution and three plain conv blocks.

Learned from what Keller Jordan published about airbench (2024: 94% on CIFAR-10 in about 0.36 PFLOP
of training): a 2x2 convolution whose filters whiten the image patches (eigenvectors of the patch
covariance of the training images, scaled by the inverse square root of their eigenvalues) and stay
frozen; then three blocks of conv, 2x max-pool, BatchNorm, GELU, conv, BatchNorm, GELU, with no
residuals; BatchNorm with a fixed unit scale and a learned shift; a global max-pool and a linear head
scaled down. Widths are 2w, 8w, 8w for the family's `width` w (w = 32 is airbench94's 64/256/256).

The training side of the recipe (its learning rates, the weight averaging, alternating flips) lives
in `training.cnn_training`; this module holds the network and its initialisation only. The network
takes RGB in [0, 1] and normalises inside, as `ImageClassifier` does, so export is shared.
"""

from __future__ import annotations

import torch
from torch import nn
from training.models.cnn import CNNConfig, register_normalisation

WHITENING_KERNEL = 2
WHITENING_EPSILON = 5e-4  # added to the patch covariance's eigenvalues before the inverse square root
WHITENING_IMAGES = 5000  # training images whose patches estimate the covariance
BATCHNORM_MOMENTUM = 0.4  # torch's convention (the weight of the new batch); airbench writes it as 0.6
LOGIT_SCALE = 1 / 9


class ShiftOnlyBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose scale stays 1: only the shift is learned."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, momentum=BATCHNORM_MOMENTUM, eps=1e-12)
        self.weight.requires_grad_(False)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    # Identity-initialised: the first `cin` filters pass their input through (a Dirac delta), which
    # lets the plain (non-residual) stack train at once; the rest keep torch's default.
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:cin])
    return conv


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        _conv(cin, cout),
        nn.MaxPool2d(2),
        ShiftOnlyBatchNorm(cout),
        nn.GELU(),
        _conv(cout, cout),
        ShiftOnlyBatchNorm(cout),
        nn.GELU(),
    )


class AirbenchClassifier(nn.Module):
    """Takes RGB in [0, 1] (N, 3, H, W) of any size at least 16; normalises inside."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        register_normalisation(self, config)
        w = config.width
        patch_channels = 3 * WHITENING_KERNEL * WHITENING_KERNEL
        self.whiten = nn.Conv2d(3, 2 * patch_channels, WHITENING_KERNEL, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.blocks = nn.Sequential(_block(2 * patch_channels, 2 * w), _block(2 * w, 8 * w), _block(8 * w, 8 * w))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(8 * w, config.num_classes, bias=False)
        self.logit_scale = LOGIT_SCALE

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled output of the last block (N, 8 * width): what the head reads."""
        x = nn.functional.gelu(self.whiten(self.normalise(x)))
        return torch.flatten(self.pool(self.blocks(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)) * self.logit_scale

    def whitening_bias_parameters(self) -> list[nn.Parameter]:
        return [self.whiten.bias]

    def norm_shift_parameters(self) -> list[nn.Parameter]:
        return [m.bias for m in self.modules() if isinstance(m, ShiftOnlyBatchNorm)]

    @torch.no_grad()
    def init_whitening(self, images: torch.Tensor) -> None:
        """Set the frozen first layer from `images` ([0, 1] RGB, N x 3 x H x W): each eigenvector of
        the covariance of their 2x2 patches, scaled by 1/sqrt(eigenvalue + eps), and its negative
        (so the GELU after it keeps both signs)."""
        x = self.normalise(images.float())
        k = WHITENING_KERNEL
        patches = x.unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, 3, k, k).flatten(1).double()
        patches = patches - patches.mean(0, keepdim=True)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = (eigenvectors.T / torch.sqrt(eigenvalues + WHITENING_EPSILON).unsqueeze(1)).float()
        filters = filters.flip(0).view(-1, 3, k, k)  # strongest component first
        self.whiten.weight.copy_(torch.cat([filters, -filters]))
        self.whiten.bias.zero_()
