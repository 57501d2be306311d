"""`python -m inference serve` as a subprocess on a free port, for tests over real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from inference.readiness import NotReady, ServerExited, free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
INFERENCE_DIR = REPO / "inference"


@dataclass
class ServerProcess:
    """`python -m inference serve` in a subprocess; `url` once `start()` returned."""

    model_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> ServerProcess:
        self.port = free_port()
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "INFERENCE_NUM_THREADS": "1",
            **self.env,
        }
        env.pop("SM_MODEL_DIR", None)
        command = [
            sys.executable,
            "-m",
            "inference",
            "serve",
            "--model-dir",
            str(self.model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until_healthy(self.process, self.url + "/ping", timeout_s, poll_s=0.1)
        except ServerExited as exited:
            raise RuntimeError(f"server exited with {exited.returncode}:\n{self.log()}") from exited
        except NotReady as late:
            self.stop()
            raise RuntimeError(f"server did not answer /ping within {timeout_s} s:\n{self.log()}") from late
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def ping(self) -> dict:
        with urllib.request.urlopen(self.url + "/ping", timeout=5) as response:
            assert response.status == 200
            return json.loads(response.read())

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process is None:
            return None
        self.terminate()
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
