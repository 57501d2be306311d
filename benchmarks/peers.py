"""The serving peers of `make bench-serve`: where each is installed, how it starts, what it is sent.

Each peer serves the benchmark's artifact through the inference package's own stages
(benchmarks/peer_apps), from its own venv (mk/serve_bench.mk installs them). A peer that cannot run
here is `missing`, with the reason measured where it shows: no venv, a failed install (the tail of
pip's output), no `java` for TorchServe, a server that exited or never answered its readiness URL
(the tail of its log), or a first request not answered with the model's JSON. A missing peer never
fails the benchmark.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.serve_load import multipart

ROOT = Path(__file__).resolve().parents[1]
MAX_BATCH_SIZE = 32  # the inference server's default (inference/settings.py), used for every peer

RAW, MULTIPART, KSERVE_JSON = "raw", "multipart", "kserve-json"


@dataclass(frozen=True)
class Peer:
    key: str
    name: str
    venv: str
    distribution: str  # whose version the report names
    body: str  # RAW, MULTIPART or KSERVE_JSON
    batching: str  # how it batches here, for the report
    field: str = "file"  # the multipart field
    needs: tuple[str, ...] = ()  # commands that must be on PATH

    def python(self, root: Path = ROOT) -> Path:
        return root / self.venv / "bin" / "python"


PEERS: tuple[Peer, ...] = (
    Peer(
        "litserve",
        "LitServe",
        ".venv-litserve",
        "litserve",
        MULTIPART,
        f"max_batch_size={MAX_BATCH_SIZE}, batch_timeout=0, 1 API server, workers_per_device=1",
    ),
    Peer(
        "ray",
        "Ray Serve",
        ".venv-peers-ray",
        "ray",
        RAW,
        f"@serve.batch(max_batch_size={MAX_BATCH_SIZE}, batch_wait_timeout_s=0), 1 replica",
    ),
    Peer(
        "bentoml",
        "BentoML",
        ".venv-peers-bentoml",
        "bentoml",
        MULTIPART,
        f"adaptive batching, batchable=True, max_batch_size={MAX_BATCH_SIZE}, 1 worker",
        field="files",
    ),
    Peer(
        "torchserve",
        "TorchServe",
        ".venv-peers-torchserve",
        "torchserve",
        RAW,
        f"batchSize={MAX_BATCH_SIZE}, maxBatchDelay=1 ms (0 means its 100 ms default), 1 worker",
        needs=("java",),
    ),
    Peer(
        "kserve",
        "KServe",
        ".venv-peers-kserve",
        "kserve",
        KSERVE_JSON,
        "none (KServe batches in its Kubernetes sidecar agent), 1 worker",
    ),
)
BY_KEY = {peer.key: peer for peer in PEERS}


def missing_reason(peer: Peer, root: Path = ROOT, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """Why `peer` cannot run here, or None when it is installed."""
    venv = root / peer.venv
    failed = venv / ".failed"
    if failed.exists():
        tail = " | ".join(line.strip() for line in failed.read_text().splitlines() if line.strip())[-600:]
        return f"its install failed (`make bench-serve-peers`, {peer.venv}/install.log): {tail}"
    if not peer.python(root).exists():
        return f"not installed: {peer.venv} is missing (`make bench-serve-peers` installs it)"
    for command in peer.needs:
        if which(command) is None:
            return f"`{command}` is not on PATH (TorchServe's frontend needs a JDK 17: openjdk-17-jre-headless)"
    return None


def version(peer: Peer, root: Path = ROOT) -> str:
    done = subprocess.run(
        [str(peer.python(root)), "-c", f"import importlib.metadata as m; print(m.version({peer.distribution!r}))"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "?"


def request_body(peer: Peer, body: bytes, filename: str, content_type: str) -> tuple[bytes, str]:
    """The bytes and Content-Type `peer` is sent for one PNG/WAV `body`: the same file, in its API's form."""
    if peer.body == MULTIPART:
        return multipart(body, filename, content_type, field=peer.field)
    if peer.body == KSERVE_JSON:
        return json.dumps({"instances": [{"b64": base64.b64encode(body).decode()}]}).encode(), "application/json"
    return body, content_type


@dataclass
class Launch:
    """A peer ready to start: its command, environment, readiness and prediction URLs."""

    command: list[str]
    health_url: str
    predict_url: str
    env: dict[str, str] = field(default_factory=dict)


def launch(peer: Peer, model_dir: Path, port: int, workdir: Path, threads: int, root: Path = ROOT) -> Launch:
    """How to start `peer` on 127.0.0.1:`port` serving `model_dir` (TorchServe's store is laid out now)."""
    python = str(peer.python(root))
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_WAIT_POLICY": "PASSIVE",  # as the inference server sets it (inference.models), from the start
        "PYTHONPATH": str(root),
        "PATH": f"{peer.python(root).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SERVE_BENCH_MODEL_DIR": str(model_dir),
        "SERVE_BENCH_THREADS": str(threads),
    }
    common = ["--model-dir", str(model_dir), "--port", str(port), "--threads", str(threads)]
    if peer.key == "litserve":
        command = [python, "-m", "benchmarks.litserve_app", *common, "--max-batch-size", str(MAX_BATCH_SIZE)]
        command += ["--batch-timeout-ms", "0"]
        return Launch(command, f"{base}/health", f"{base}/predict", env)
    if peer.key == "ray":
        command = [python, "-m", "benchmarks.peer_apps.ray_serve_app", *common, "--max-batch-size", str(MAX_BATCH_SIZE)]
        return Launch(command, f"{base}/predict", f"{base}/predict", env)
    if peer.key == "bentoml":
        command = [
            str(peer.python(root).with_name("bentoml")), "serve", "benchmarks.peer_apps.bentoml_service:Classifier",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        return Launch(command, f"{base}/readyz", f"{base}/predict", env)
    if peer.key == "torchserve":
        store = workdir / f"torchserve-{model_dir.name}"
        done = subprocess.run(
            [python, "-m", "benchmarks.peer_apps.torchserve_config", "--workdir", str(store), "--port", str(port)],
            check=True, capture_output=True, text=True, cwd=root, env=env,
        )  # fmt: skip
        config = done.stdout.strip().splitlines()[-1]
        # TorchServe writes its logs under $LOG_LOCATION and $METRICS_LOCATION (default: ./logs)
        env.update(LOG_LOCATION=str(store / "logs"), METRICS_LOCATION=str(store / "logs"))
        command = [
            str(peer.python(root).with_name("torchserve")), "--start", "--foreground", "--ncs",
            "--disable-token-auth", "--ts-config", config, "--model-store", str(store / "store"),
        ]  # fmt: skip
        return Launch(command, f"{base}/ping", f"{base}/predictions/model", env)
    if peer.key == "kserve":
        command = [python, "-m", "benchmarks.peer_apps.kserve_app", *common, "--name", "model"]
        return Launch(command, f"{base}/v1/models/model", f"{base}/v1/models/model:predict", env)
    raise ValueError(f"unknown peer {peer.key!r}")


def first_answer(url: str, body: bytes, content_type: str, timeout_s: float = 60.0) -> str | None:
    """None when one request is answered 200 with the model's predictions, else what came back."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            text = response.read().decode(errors="replace")
    except OSError as error:  # URLError, HTTPError (a non-2xx status), resets, timeouts
        detail = getattr(error, "read", lambda: b"")()
        return f"the first request failed: {error} {detail[:300].decode(errors='replace') if detail else ''}".strip()
    try:
        document = json.loads(text)
    except ValueError:
        return f"the first answer is not JSON: {text[:300]}"
    if isinstance(document, list) and len(document) == 1:  # a batchable API's slice for one input (BentoML)
        document = document[0]
    if not isinstance(document, dict) or not document.get("predictions"):
        return f"the first answer holds no predictions: {text[:300]}"
    return None
