"""A temporary `/opt/ml`-shaped tree with empty channel folders for a test to fill (local_mode lays it out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local_mode.opt_ml import HOST, OptMl, lay_out

# What every test tree's hyperparameters.json holds unless the test sets it (see make_opt_ml).
TEST_DEFAULTS = {"min_steps": "0"}


def make_opt_ml(
    root: Path,
    hyperparameters: dict[str, str],
    channels: tuple[str, ...] = ("train",),
    hosts: tuple[str, ...] = (HOST,),
    current_host: str = HOST,
) -> OptMl:
    """The tree, with the small-data floor of optimizer steps off (`min_steps=0`) unless the test sets it:
    the tests train a few exact epochs on a few dozen samples, which the floor would lengthen."""
    hyperparameters = {**TEST_DEFAULTS, **hyperparameters}
    return lay_out(root, hyperparameters, dict.fromkeys(channels), hosts=hosts, current_host=current_host)


def train_in_process(tree: OptMl, monkeypatch: Any) -> None:
    """Run the training program (`training.cli.main`) in this process on `tree`, the tree's environment set
    for this test alone (`monkeypatch`)."""
    from training.cli import main

    for key, value in tree.environ().items():
        monkeypatch.setenv(key, value)
    assert main([]) == 0, tree.output_dir


def train_sample_model(root: Path, monkeypatch: Any, model: str, epochs: int) -> OptMl:
    """Train `model` for `epochs` (batches of 16; the CNN 8 wide) in this process on the synthetic sample
    (`tests.helpers.synthetic`: 12 images a class, or 3 clips a speaker); returns the tree."""
    from tests.helpers.synthetic import write_fsdd_folder, write_image_folder

    hyperparameters = {"model": model, "epochs": str(epochs), "batch_size": "16"}
    if model == "cnn":
        tree = make_opt_ml(root, {**hyperparameters, "width": "8"})
        write_image_folder(tree.channel("train"), per_class=12)
    else:
        tree = make_opt_ml(root, hyperparameters)
        write_fsdd_folder(tree.channel("train"), per_speaker=3)
    train_in_process(tree, monkeypatch)
    return tree
