"""The time window of one scheduled run, and the model artifact as the processing job receives it.

On AWS (infra/components/drift_monitor.py) the state machine hands the job the capture folders of
every UTC day the window touches and the window itself (`--window-end`, `--window-hours`): a record
counts when its `eventMetadata.inferenceTime` lies in `[end - hours, end)`. The model arrives as the
`model.tar.gz` SageMaker stored, which `model_dir` unpacks.
"""

from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ARTIFACT_TARBALL = "model.tar.gz"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (`2026-12-07T04:00:00.123Z`, as SageMaker's capture and Step Functions write it)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TimeWindow:
    end: datetime
    hours: int

    def __post_init__(self) -> None:
        if self.hours < 1:
            raise ValueError(f"window hours must be at least 1, got {self.hours}")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(hours=self.hours)

    def contains(self, time: str | None) -> bool:
        """Whether a capture's time lies in the window; a missing or unreadable time does not."""
        if not time:
            return False
        try:
            return self.start <= parse_time(time) < self.end
        except ValueError:
            return False

    def as_dict(self) -> dict[str, str | int]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "hours": self.hours}


def model_dir(path: Path) -> Path:
    """`path` itself when it holds the unpacked artifact; else its one `model.tar.gz` unpacked into a
    temporary folder (the processing job's model input). Members that would land outside the folder
    are refused (tarfile's `data` filter, or the same check by hand where Python lacks it)."""
    tarball = path / ARTIFACT_TARBALL
    if (path / "manifest.json").exists() or not tarball.is_file():
        return path
    target = Path(tempfile.mkdtemp(prefix="model-"))
    with tarfile.open(tarball, "r:gz") as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(target, filter="data")
        else:  # Python before 3.11.4 (Debian bookworm's 3.11.2): the same refusal, by hand
            archive.extractall(target, members=_plain_members(archive, tarball))
    return target


def _plain_members(archive: tarfile.TarFile, tarball: Path) -> list[tarfile.TarInfo]:
    """Files and folders that stay inside the target; anything else is refused, naming the member."""
    members = archive.getmembers()
    for member in members:
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise ValueError(f"{tarball}: member {member.name!r} is not a plain file inside the archive")
    return members
