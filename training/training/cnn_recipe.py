"""The CNN job's recipe step: read the choice a checkpoint recorded, or measure and choose; one choice
for every rank.

Rank 0 decides and broadcasts (family, width, epochs), so every rank builds the same network. A restarted
job takes the record of the newest usable checkpoint and never measures again: a different
network would not load the checkpoint's weights, and a different plan would not match its schedule.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import torch
import torch.distributed as dist

from training import recipe
from training.checkpoint import CheckpointStore
from training.cnn_training import CNNTrainer
from training.data.folders import Dataset
from training.distributed import Topology
from training.hyperparameters import CNN_FAMILIES, Hyperparameters, with_family
from training.schedule import Budget

log = logging.getLogger(__name__)


def measure(
    hp: Hyperparameters,
    train: Dataset,
    validation: Dataset,
    device: torch.device,
    candidates: list[recipe.Candidate],
) -> dict[recipe.Candidate, float]:
    """This rank's training samples/s per candidate: a throwaway `CNNTrainer` of that family and width,
    with the family's own recipe (batch size included), running its own `train_batch` (augmentation,
    autocast, forward, backward, SGD step) on real batches. Candidates are measured in the given order
    until `PROBE_BUDGET_FRACTION` of the time budget is used."""
    single = Topology(hosts=("probe",), host_rank=0, processes_per_host=1, local_rank=device.index or 0, port=0)

    def make_step(candidate: recipe.Candidate) -> tuple[Callable[[int], int], Callable[[], None]]:
        probe_hp = dataclasses.replace(with_family(hp, candidate.family), width=candidate.width, epochs=1)
        built = CNNTrainer(probe_hp, train, validation, single, device)
        batches = built.batches(0)
        trainer: CNNTrainer | None = built

        def step(i: int) -> int:
            assert trainer is not None
            batch = batches[i % len(batches)]
            trainer.train_batch(batch, probe_hp.learning_rate, i)
            return len(batch)

        def release() -> None:
            nonlocal trainer
            trainer = None
            if device.type == "cuda":
                torch.cuda.empty_cache()

        return step, release

    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    total_s = recipe.PROBE_BUDGET_FRACTION * hp.time_budget_s if hp.time_budget_s > 0 else float("inf")
    return recipe.probe_widths(candidates, make_step, hp.probe_seconds, synchronize, total_s)


def decide(
    hp: Hyperparameters,
    train: Dataset,
    validation: Dataset,
    device: torch.device,
    budget: Budget,
    store: CheckpointStore | None,
    world_size: int = 1,
) -> recipe.RecipeChoice:
    """The checkpoint's record, else the hyperparameters, the default recipe, or a measured choice."""
    record = store.latest_recipe() if store is not None else None
    if record is not None:
        return recipe.RecipeChoice.from_record(record)
    if (hp.width > 0 and hp.epochs > 0) or hp.time_budget_s <= 0:
        return recipe.default_choice(hp.width, hp.epochs, hp.family)
    frontier = recipe.Frontier.load()
    candidates = recipe.candidates_to_probe(frontier, hp.width, hp.family)
    # Data parallelism: each rank trains its share of every batch at about rank 0's rate.
    rates = {c: s * world_size for c, s in measure(hp, train, validation, device, candidates).items()}
    choice = recipe.choose(
        frontier,
        family=hp.family,
        width=hp.width,
        epochs=hp.epochs,
        samples_per_s=rates,
        budget_s=hp.time_budget_s,
        spent_s=budget.elapsed(),
        n_train=len(train),
        n_val=len(validation),
    )
    skipped = [c.key for c in candidates if c not in rates]
    if skipped:
        choice.reason += (
            f"; {', '.join(skipped)} not measured: probing stops at {recipe.PROBE_BUDGET_FRACTION:.0%} of the budget"
        )
    return choice


def resolve(
    hp: Hyperparameters,
    train: Dataset,
    validation: Dataset,
    topo: Topology,
    device: torch.device,
    budget: Budget,
    store: CheckpointStore | None,
) -> recipe.RecipeChoice:
    """Every rank's choice: rank 0's decision, broadcast to the others."""
    choice = decide(hp, train, validation, device, budget, store, topo.world_size) if topo.rank == 0 else None
    if topo.world_size == 1:
        assert choice is not None
        return choice
    values = [CNN_FAMILIES.index(choice.family), choice.width, choice.epochs] if choice is not None else [0, 0, 0]
    tensor = torch.tensor(values, dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    if choice is not None:
        return choice
    family, width, epochs = (int(v) for v in tensor.tolist())
    return recipe.RecipeChoice(
        width, epochs, chosen_by="rank 0", reason="received from rank 0", family=CNN_FAMILIES[family]
    )
