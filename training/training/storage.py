"""Where the job writes: checked before training starts, and failures to write named with the path.

A job that finds only after hours of training that its model dir is read-only (or full) loses the
run; the check costs one empty file per folder. Root ignores permission bits, so the check writes a
file instead of asking `os.access`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from training.errors import ConfigError, TrainingError

log = logging.getLogger(__name__)


class WriteError(TrainingError):
    """The model or its evaluation could not be written (a full or read-only disk)."""


def free_space(directory: Path) -> str:
    """The free space of the file system holding `directory` (or its nearest existing parent)."""
    for candidate in (directory, *directory.parents):
        try:
            return f"{shutil.disk_usage(candidate).free / 2**20:.1f} MiB free"
        except OSError:
            continue
    return "free space unknown"


def check_writable(directory: Path, what: str) -> None:
    """Create `directory` if needed and write and remove a file in it; ConfigError naming it if not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ConfigError(
            f"the {what} {directory} is not writable ({error.strerror or error}); the job "
            "would train and then lose its result"
        ) from None


def check_output_folders(folders: dict[str, Path]) -> None:
    """Every folder the job writes to, by what it is for (`model dir`, ...), checked before the first step."""
    for what, directory in folders.items():
        check_writable(directory, what)
    log.info("writable: %s", ", ".join(f"{what} {path}" for what, path in folders.items()))


def write_error(path: Path, error: BaseException) -> WriteError:
    """The error to raise when the final artifact cannot be written: the path, the cause, the free space."""
    return WriteError(f"could not write {path}: {type(error).__name__}: {error} ({free_space(path.parent)})")
