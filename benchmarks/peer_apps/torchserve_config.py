"""Lay out a TorchServe model store and config for the benchmark's artifact; print the command to run.

    .venv-peers-torchserve/bin/python -m benchmarks.peer_apps.torchserve_config \
        --workdir W --port P [--batch-size 32] [--max-batch-delay-ms 1]

Writes `W/store/model.mar` (torch-model-archiver around benchmarks/peer_apps/torchserve_handler.py;
the artifact itself stays in DIR) and `W/config.properties`: inference API on 127.0.0.1:P,
management on P+1, metrics on P+2, one worker (its framework uses all cores, as the inference
server's one model thread), token authorization off (a local benchmark), and the model's batching
(`batchSize`, `maxBatchDelay`) in the `models` property, as TorchServe's configuration guide
documents it (https://pytorch.org/serve/configuration.html). Its batch delay is 1 ms, the shortest
that TorchServe 0.12 honours: with `maxBatchDelay: 0` a lone request waited the 100 ms default (measured
here: 4.2 req/s at concurrency 1 with 0, 140 with 1 ms).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HANDLER = Path(__file__).with_name("torchserve_handler.py")


def write_config(workdir: Path, port: int, batch_size: int, max_batch_delay_ms: int) -> Path:
    store = workdir / "store"
    store.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(Path(sys.executable).with_name("torch-model-archiver")),
            "--model-name", "model", "--version", "1.0", "--handler", str(HANDLER),
            "--export-path", str(store), "--force",
        ],
        check=True,
    )  # fmt: skip
    models = {
        "model": {
            "1.0": {
                "defaultVersion": True,
                "marName": "model.mar",
                "minWorkers": 1,
                "maxWorkers": 1,
                "batchSize": batch_size,
                "maxBatchDelay": max_batch_delay_ms,
                "responseTimeout": 120,
            }
        }
    }
    config = workdir / "config.properties"
    config.write_text(
        "\n".join(
            [
                f"inference_address=http://127.0.0.1:{port}",
                f"management_address=http://127.0.0.1:{port + 1}",
                f"metrics_address=http://127.0.0.1:{port + 2}",
                f"model_store={store}",
                "load_models=model.mar",
                "default_workers_per_model=1",
                "disable_token_authorization=true",
                "install_py_dep_per_model=false",
                "disable_system_metrics=true",
                f"models={json.dumps(models)}",
                "",
            ]
        )
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-batch-delay-ms", type=int, default=1)
    args = parser.parse_args()
    config = write_config(args.workdir, args.port, args.batch_size, args.max_batch_delay_ms)
    print(config)


if __name__ == "__main__":
    main()
