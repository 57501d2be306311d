"""The CNN's batch augmentation: a flip and a reflect-padded translation, as one gather on uint8 pixels."""

import torch
import torch.nn.functional as F
from training.cnn_training import augment


def reference(pixels: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """The textbook form, with the same random draws: flip, reflect-pad, then crop at (dy, dx)."""
    n, _, h, w = pixels.shape
    flipped = torch.rand(n, generator=generator) < 0.5
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    images = torch.where(flipped.view(n, 1, 1, 1), pixels.flip(3), pixels).float()
    padded = F.pad(images, (padding,) * 4, mode="reflect")
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def test_augment_matches_flip_pad_and_crop():
    pixels = torch.randint(0, 256, (64, 3, 12, 10), dtype=torch.uint8)
    out = augment(pixels, 3, torch.Generator().manual_seed(7))
    expected = reference(pixels, 3, torch.Generator().manual_seed(7))
    assert out.dtype == torch.uint8
    assert torch.equal(out.float(), expected)


def test_no_flip_and_no_padding_is_the_identity():
    pixels = torch.randint(0, 256, (8, 3, 6, 6), dtype=torch.uint8)
    assert torch.equal(augment(pixels, 0, torch.Generator().manual_seed(0), flip=False), pixels)


def test_the_same_generator_state_gives_the_same_batch():
    pixels = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    first = augment(pixels, 2, torch.Generator().manual_seed(3))
    assert torch.equal(first, augment(pixels, 2, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, augment(pixels, 2, torch.Generator().manual_seed(4)))
