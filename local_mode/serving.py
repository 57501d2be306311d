"""The serving container's `serve` program on this machine, for the length of a `with` block.

`inference/serve` (what `docker run IMAGE serve` executes) binds 127.0.0.1:`port`; the block is
entered once `GET /ping` answers 200 and the process is stopped with SIGTERM when it is left, by
success, failure or Ctrl-C alike.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import IO

from inference.capture import DIR_VARIABLE as CAPTURE_DIR_VARIABLE
from inference.readiness import NotReady, ServerExited, wait_until_healthy

from local_mode import processes
from local_mode.errors import LocalModeError
from local_mode.paths import INFERENCE_DIR, python_bin_dir

SERVE_PROGRAM = INFERENCE_DIR / "serve"
HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def require_free_port(port: int) -> None:
    if not port_is_free(port):
        raise LocalModeError(
            f"port {port} is already in use on {HOST}",
            f"stop what listens there (`ss -ltnp 'sport = :{port}'`) or pick another: make local PORT={port + 1}",
        )


def serve_environment(capture_dir: Path | None = None) -> dict[str, str]:
    """The server's environment; with `capture_dir`, the server captures every request there
    (inference.capture), which `make monitor` reads."""
    environ = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PATH": f"{python_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for variable in ("SM_MODEL_DIR", "SAGEMAKER_BIND_TO_PORT", "SAGEMAKER_MODEL_SERVER_WORKERS"):
        environ.pop(variable, None)  # the flags below decide; a stray variable must not
    environ.pop(CAPTURE_DIR_VARIABLE, None)
    if capture_dir is not None:
        environ[CAPTURE_DIR_VARIABLE] = str(capture_dir)
    return environ


@dataclass
class LocalServer:
    model_dir: Path
    port: int
    log: Path
    ping_timeout_s: float = 120.0
    capture_dir: Path | None = None
    process: Popen | None = field(default=None, init=False)
    exit_code: int | None = field(default=None, init=False)
    _sink: IO[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> LocalServer:
        require_free_port(self.port)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._sink = open(self.log, "wb")
        command = [str(SERVE_PROGRAM), "--model-dir", str(self.model_dir), "--host", HOST, "--port", str(self.port)]
        try:
            self.process = processes.start(
                command, env=serve_environment(self.capture_dir), cwd=INFERENCE_DIR, stdout=self._sink
            )
            self._wait_for_ping()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> int | None:
        if self.process is not None and self.exit_code is None:
            self.exit_code = processes.stop(self.process)
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        return self.exit_code

    def _tail(self) -> str:
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"

    def _wait_for_ping(self) -> None:
        assert self.process is not None
        try:
            wait_until_healthy(self.process, self.url + "/ping", self.ping_timeout_s)
        except ServerExited as exited:
            text = self.log.read_text(errors="replace")
            if "address already in use" in text.lower():
                raise LocalModeError(
                    f"port {self.port} was taken before the server could bind it",
                    f"stop what listens there or pick another: make local PORT={self.port + 1}",
                ) from exited
            raise LocalModeError(
                f"the server for {self.model_dir} exited with code {exited.returncode}: {self._tail()}",
                f"see {self.log}",
            ) from exited
        except NotReady as late:
            raise LocalModeError(
                f"the server did not answer /ping within {self.ping_timeout_s:.0f} s", f"see {self.log}"
            ) from late
