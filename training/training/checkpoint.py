"""Spot-safe checkpoints: atomic, verified, and refused when they belong to another job.

Each checkpoint is two files in the checkpoint dir (SageMaker syncs it with S3 and copies it back
when a spot job restarts):

    checkpoint-<epoch>-<batch>.state   the framework's payload (model, optimizer, RNG states)
    checkpoint-<epoch>-<batch>.json    loop position, history, time spent, fingerprint, sha256, and
                                       the recipe record (what the job chose to train, if it chose)

Both are written to a temporary name, flushed and renamed, the `.json` last, so a checkpoint
exists only once both files are whole. On load, a checkpoint whose payload is missing or whose
sha256 does not match (a kill or a partial sync during a write) is skipped with a warning naming
it, and the one before it is used; with none usable, training starts from the beginning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training.errors import ConfigError

log = logging.getLogger(__name__)
KEEP = 2  # the newest and one before it, in case the newest turns out unreadable


@dataclass
class LoopState:
    """Where the loop stands: enough to resume mid-epoch with the same result."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # optimizer steps in all
    spent_s: float = 0.0  # seconds of the time budget already used
    partial: dict[str, float] = field(default_factory=dict)  # the current epoch's running sums
    history: list[dict[str, float]] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as stream:
        os.fsync(stream.fileno())


def _replace_atomically(tmp: Path, final: Path) -> None:
    _fsync(tmp)
    os.replace(tmp, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        log.warning("could not remove %s: %s", path, error)


def _free_space(directory: Path) -> str:
    try:
        return f"{shutil.disk_usage(directory).free / 2**20:.1f} MiB"
    except OSError:
        return "unknown space"


_ABSENT = object()  # a fingerprint key an older checkpoint lacks and that has no default: a difference


class CheckpointStore:
    def __init__(
        self, directory: Path, fingerprint: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
    ) -> None:
        self.directory = directory
        self.fingerprint = json.loads(json.dumps(dict(fingerprint)))  # as it reads back from JSON
        # What a key missing from an older checkpoint's fingerprint stood for: a setting added since,
        # whose default keeps the behaviour from before it existed, so such a checkpoint still resumes.
        self.defaults = json.loads(json.dumps(dict(defaults or {})))
        # What the job chose to train (the CNN's width and epochs and why): written into every
        # checkpoint so a restarted job keeps the choice instead of measuring again.
        self.recipe: dict[str, Any] | None = None

    def _metas(self) -> list[Path]:
        return sorted(self.directory.glob("checkpoint-*.json"), reverse=True)

    def save(self, state: LoopState, write_payload: Callable[[Path], None]) -> Path | None:
        """Write a checkpoint; None when it cannot be written (a full or failing disk).

        A checkpoint that cannot be written costs only the progress since the previous one, so it is a
        warning naming the path, the error and the free space: its temporary files are removed, the
        previous checkpoints stay, and training goes on. Serializers report a full disk their own way
        (torch: RuntimeError from its zip writer; numpy and json: OSError), hence both."""
        stem = f"checkpoint-{state.epoch:05d}-{state.batch:07d}"
        payload = self.directory / f"{stem}.state"
        tmp = self.directory / f".{stem}.state.tmp"
        tmp_meta = self.directory / f".{stem}.json.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_payload(tmp)
            _replace_atomically(tmp, payload)
            meta = {
                "loop": asdict(state),
                "fingerprint": self.fingerprint,
                "payload": payload.name,
                "sha256": _sha256(payload),
            }
            if self.recipe is not None:
                meta["recipe"] = self.recipe
            tmp_meta.write_text(json.dumps(meta))
            _replace_atomically(tmp_meta, self.directory / f"{stem}.json")
        except (OSError, RuntimeError) as error:
            for path in (tmp, tmp_meta, payload):  # the payload is useless without its .json
                _remove_quietly(path)
            log.warning(
                "checkpoint %s could not be written (%s: %s; %s free in %s): training goes on, a restart "
                "would resume from %s",
                payload,
                type(error).__name__,
                error,
                _free_space(self.directory),
                self.directory,
                self._metas()[0].name if self._exists() else "the beginning",
            )
            return None
        for old in self._metas()[KEEP:]:
            (self.directory / old.with_suffix(".state").name).unlink(missing_ok=True)
            old.unlink(missing_ok=True)
        return payload

    def _exists(self) -> bool:
        try:
            return bool(self._metas())
        except OSError:
            return False

    def _check_fingerprint(self, meta_path: Path, found: Mapping[str, Any]) -> None:
        differences = [
            f"{key}: checkpoint {found.get(key)!r}, this job {value!r}"
            for key, value in self.fingerprint.items()
            if (found[key] if key in found else self.defaults.get(key, _ABSENT)) != value
        ]
        if differences:
            raise ConfigError(
                f"{meta_path} was written by a different job ({'; '.join(differences)}). Resuming it would "
                f"train the wrong thing: empty the checkpoint dir {self.directory} or run with the same settings"
            )

    def _usable(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint whose payload is whole, its fingerprint checked; None when none is."""
        for meta_path in self._metas():
            try:
                meta = json.loads(meta_path.read_text())
                payload = self.directory / meta["payload"]
                if not payload.exists() or _sha256(payload) != meta["sha256"]:
                    raise ValueError(f"payload {payload.name} is missing or does not match its sha256")
            except (ValueError, KeyError, TypeError, OSError) as error:
                log.warning("checkpoint %s is damaged (%s): trying an older one", meta_path, error)
                continue
            self._check_fingerprint(meta_path, meta.get("fingerprint", {}))
            return meta_path, meta
        return None

    def latest_recipe(self) -> dict[str, Any] | None:
        """The recipe record of the checkpoint `load_latest` would resume, read before any model exists."""
        if not self.directory.is_dir():
            return None
        usable = self._usable()
        return usable[1].get("recipe") if usable else None

    def load_latest(self, read_payload: Callable[[Path], None]) -> LoopState | None:
        """Restore the newest usable checkpoint through `read_payload`; None when there is none."""
        usable = self._usable()
        if usable is not None:
            meta_path, meta = usable
            read_payload(self.directory / meta["payload"])
            state = LoopState(**meta["loop"])
            log.info(
                "resumed from checkpoint %s: epoch %d, batch %d, %.0f s of budget spent",
                meta_path.name,
                state.epoch + 1,
                state.batch,
                state.spent_s,
            )
            return state
        if any(self.directory.glob("checkpoint-*")):
            log.warning("no usable checkpoint in %s: starting from the beginning", self.directory)
        return None
