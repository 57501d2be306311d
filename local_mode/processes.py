"""Child processes that never outlive local mode.

Each child runs in its own session (process group), so a Ctrl-C on the terminal reaches local mode
alone, which then stops the whole group: SIGTERM, a grace period, then SIGKILL. On Linux the child
also gets SIGTERM from the kernel if local mode itself dies (`PR_SET_PDEATHSIG`). SIGTERM and SIGHUP
sent to local mode are turned into `Interrupted`, so every `finally` runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


class Interrupted(Exception):
    """SIGTERM or SIGHUP reached local mode (Ctrl-C arrives as KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


def start(command: Sequence[str], *, env: Mapping[str, str], cwd: Path, stdout: IO[bytes] | int) -> subprocess.Popen:
    return subprocess.Popen(
        list(command),
        env=dict(env),
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def stop(process: subprocess.Popen, grace_s: float = 20.0) -> int:
    """SIGTERM the child's process group, wait up to `grace_s`, then SIGKILL it; returns the exit code."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)  # whatever the group still holds (a worker, a grandchild)
    return process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Interrupted` (as Ctrl-C raises KeyboardInterrupt)."""

    def handler(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
