"""Starting a server and knowing when it is up: a free local port, and waiting for its health URL.

The one copy used by local mode (`local_mode/serving.py`), the serving benchmarks
(`benchmarks/serve_load.py`) and the integration tests (`tests/helpers/inference_server.py`). Standard
library only, so importing it loads no framework.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

HOST = "127.0.0.1"


class ServerExited(RuntimeError):
    """The server process ended before it answered its health URL."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"the server exited with code {returncode} before it was ready")
        self.returncode = returncode


class NotReady(TimeoutError):
    """The health URL did not answer 200 in time."""


def _is_free(port: int, host: str = HOST) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(span: int = 1, host: str = HOST) -> int:
    """A port the OS reports free now, with the `span - 1` ports above it free too (a server and its
    neighbours, such as a rendezvous port). Another process may still take it before it is bound."""
    while True:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port + span < 65535 and all(_is_free(port + i, host) for i in range(1, span)):
            return port


def answers_200(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except OSError:  # URLError, connection refused or reset, timeouts
        return False


def wait_until_healthy(process: subprocess.Popen, url: str, timeout_s: float, poll_s: float = 0.2) -> None:
    """Return once `url` answers 200; `ServerExited` when `process` ends first, `NotReady` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExited(process.returncode)
        if answers_200(url):
            return
        time.sleep(poll_s)
    raise NotReady(f"{url} did not answer 200 within {timeout_s:g} s")
