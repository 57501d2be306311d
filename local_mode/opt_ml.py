"""An `/opt/ml`-shaped tree for one training job, laid out as SageMaker lays it out.

```
<root>/input/config/hyperparameters.json   every value a string
<root>/input/config/resourceconfig.json    one host, algo-1
<root>/input/config/inputdataconfig.json   one entry per channel (File mode)
<root>/input/data/<channel>/               the channel's files, copied in (hard links where possible)
<root>/model/                              SM_MODEL_DIR: the job writes the artifact here
<root>/output/                             SM_OUTPUT_DIR: `failure`, and `data/` (evaluation, plots)
<root>/checkpoints/                        what SageMaker's CheckpointConfig syncs
```
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "algo-1"


@dataclass(frozen=True)
class OptMl:
    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    def channel(self, name: str) -> Path:
        return self.input_dir / "data" / name

    def environ(self) -> dict[str, str]:
        """The SM_* variables that relocate /opt/ml; every other path derives from them as in the container."""
        return {
            "SM_INPUT_DIR": str(self.input_dir),
            "SM_MODEL_DIR": str(self.model_dir),
            "SM_OUTPUT_DIR": str(self.output_dir),
        }


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a channel's files (hard links when on the same file system: data is read, never written)."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy, dirs_exist_ok=True)


def lay_out(
    root: Path,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Path | None],
    hosts: Sequence[str] = (HOST,),
    current_host: str = HOST,
) -> OptMl:
    """A fresh tree at `root` (anything there before is removed) with `channels` copied in.

    A channel given as None gets an empty folder for the caller to fill. `hosts` and `current_host`
    describe a multi-instance job as SageMaker's resourceconfig.json does on each host.
    """
    if root.exists():
        shutil.rmtree(root)
    tree = OptMl(root)
    tree.config_dir.mkdir(parents=True)
    (tree.config_dir / "hyperparameters.json").write_text(
        json.dumps({key: str(value) for key, value in hyperparameters.items()}, indent=2)
    )
    (tree.config_dir / "resourceconfig.json").write_text(
        json.dumps({"current_host": current_host, "hosts": list(hosts), "network_interface_name": "eth0"}, indent=2)
    )
    (tree.config_dir / "inputdataconfig.json").write_text(
        json.dumps(
            {
                name: {
                    "TrainingInputMode": "File",
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
                for name in channels
            },
            indent=2,
        )
    )
    for name, source in channels.items():
        if source is None:
            tree.channel(name).mkdir(parents=True)
        else:
            _copy_tree(source, tree.channel(name))
    for folder in (tree.model_dir, tree.output_data_dir, tree.checkpoint_dir):
        folder.mkdir(parents=True)
    return tree
