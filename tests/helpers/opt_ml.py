"""A temporary `/opt/ml`-shaped tree with empty channel folders for a test to fill (local_mode lays it out)."""

from __future__ import annotations

from pathlib import Path

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
