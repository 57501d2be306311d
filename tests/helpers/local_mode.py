"""Running `python -m local_mode` as `make local` does, and finding what it left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from inference.readiness import free_port

__all__ = ["free_port", "local_mode_command", "run_local_mode", "processes_mentioning"]

REPO = Path(__file__).resolve().parents[2]


def local_mode_command(output: Path, port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "local_mode", "--smoke", "--output", str(output), "--port", str(port), *args]


def run_local_mode(output: Path, port: int, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        local_mode_command(output, port, *args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )


def processes_mentioning(text: str, exclude: tuple[int, ...] = ()) -> list[int]:
    """Live processes whose command line or environment holds `text` (a test's unique tmp path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), *exclude):
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            state = next((line for line in (entry / "status").read_text().splitlines() if line.startswith("State")), "")
        except OSError:
            continue
        if text.encode() in blob and "zombie" not in state:
            found.append(int(entry.name))
    return found


def port_is_bound(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
