"""Data-parallel topology from the SageMaker host list: ranks, master address, `TF_CONFIG`.

Nothing here asks the user for a master address or a cluster spec: the first host of the sorted
host list is the master (PyTorch) and the chief (TensorFlow worker 0). Worker i of TensorFlow listens
on `dist_port + i`, so hosts that are one machine (two loopback names in tests) do not collide.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from training.contract import TrainingEnvironment


@dataclass(frozen=True)
class Topology:
    hosts: tuple[str, ...]
    host_rank: int
    processes_per_host: int
    local_rank: int
    port: int

    @property
    def world_size(self) -> int:
        return len(self.hosts) * self.processes_per_host

    @property
    def rank(self) -> int:
        return self.host_rank * self.processes_per_host + self.local_rank

    @property
    def is_master(self) -> bool:
        return self.rank == 0

    @property
    def master_address(self) -> str:
        """The first host; on a single host the ranks meet on loopback (its name may not resolve locally)."""
        return self.hosts[0] if len(self.hosts) > 1 else "127.0.0.1"

    def tf_config(self) -> dict[str, object]:
        workers = [f"{host}:{self.port + i}" for i, host in enumerate(self.hosts)]
        return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": self.host_rank}}


def processes_per_host(env: TrainingEnvironment, requested: int) -> int:
    """One process per GPU (PyTorch DDP), one on a CPU host, unless the user asked for a number."""
    return requested if requested > 0 else max(1, env.num_gpus)


def topology(env: TrainingEnvironment, processes: int, port: int, local_rank: int = 0) -> Topology:
    return Topology(
        hosts=env.hosts,
        host_rank=env.hosts.index(env.current_host),
        processes_per_host=processes,
        local_rank=local_rank,
        port=port,
    )


def pin_network_interface(interface: str | None) -> None:
    """Let gloo and NCCL use the interface SageMaker names in resourceconfig.json, when it exists here."""
    if interface and Path("/sys/class/net", interface).exists():
        for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
            os.environ.setdefault(variable, interface)


def export_tf_config(topo: Topology) -> None:
    os.environ["TF_CONFIG"] = json.dumps(topo.tf_config())
