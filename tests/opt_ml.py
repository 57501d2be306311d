"""A temporary `/opt/ml`-shaped tree, laid out as SageMaker lays it for a training job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OptMl:
    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    def channel(self, name: str) -> Path:
        return self.input_dir / "data" / name

    @property
    def failure(self) -> str:
        return (self.output_dir / "failure").read_text()

    def environ(self) -> dict[str, str]:
        """Only the root is relocated; every other path is derived as under /opt/ml."""
        return {"SM_INPUT_DIR": str(self.input_dir), "SM_MODEL_DIR": str(self.model_dir),
                "SM_OUTPUT_DIR": str(self.output_dir)}


def make_opt_ml(root: Path, hyperparameters: dict[str, str], channels: tuple[str, ...] = ("train",),
                hosts: tuple[str, ...] = ("algo-1",), current_host: str = "algo-1") -> OptMl:
    tree = OptMl(root)
    config = tree.input_dir / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": current_host, "hosts": list(hosts), "network_interface_name": "eth0"}))
    (config / "inputdataconfig.json").write_text(json.dumps(
        {name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"} for name in channels}))
    for name in channels:
        tree.channel(name).mkdir(parents=True, exist_ok=True)
    tree.model_dir.mkdir()
    tree.output_dir.mkdir()
    return tree
