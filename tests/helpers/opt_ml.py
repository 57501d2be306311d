"""A temporary `/opt/ml`-shaped tree with empty channel folders for a test to fill (local_mode lays it out)."""

from __future__ import annotations

from pathlib import Path

from local_mode.opt_ml import HOST, OptMl, lay_out


def make_opt_ml(
    root: Path,
    hyperparameters: dict[str, str],
    channels: tuple[str, ...] = ("train",),
    hosts: tuple[str, ...] = (HOST,),
    current_host: str = HOST,
) -> OptMl:
    return lay_out(root, hyperparameters, dict.fromkeys(channels), hosts=hosts, current_host=current_host)
