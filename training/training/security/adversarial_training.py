"""The defence: adversarial training of the CNN with PGD examples (Madry et al., ICLR 2018).

In the last `adversarial_fraction` of the schedule (its position: steps done or budget spent, as the
learning rate sees it), each batch is replaced by its L-infinity PGD examples at `adversarial_eps`
([0, 1] pixel range, as the evaluation's epsilons), `adversarial_steps` steps of 2.5 * eps / steps
from a random start. Written here in a few lines of torch rather than with ART's AdversarialTrainer:
that trainer owns the whole training loop, and the job's loop (checkpoints, data parallelism, the
time budget) must stay; the evaluation (training/security/robustness.py) uses ART on the exported
program, so the defence is measured by other code than its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

STEP_RATIO = 2.5


def adversarial_phase(progress_fraction: float, fraction: float) -> bool:
    """Whether a step at this schedule position trains on PGD examples."""
    return fraction > 0 and progress_fraction >= 1.0 - fraction


def pgd_examples(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-inf PGD with a random start, on [0, 1] images; only the input's gradient is taken, so the
    model's parameter gradients are untouched (and no data-parallel hook fires)."""
    step = STEP_RATIO * eps / steps
    noise = torch.rand(images.shape, generator=generator).to(images.device)
    adversarial = (images + (2 * noise - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(model(adversarial).float(), labels)
        (gradient,) = torch.autograd.grad(loss, adversarial)
        with torch.no_grad():
            adversarial = adversarial + step * gradient.sign()
            adversarial = torch.min(torch.max(adversarial, images - eps), images + eps).clamp(0, 1)
    return adversarial.detach()
