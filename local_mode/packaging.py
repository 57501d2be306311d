"""model.tar.gz as SageMaker makes it from the model dir, and unpacked as SageMaker hosting does.

SageMaker tars the contents of `/opt/ml/model` (members at the archive root, no leading folder) and
gzips them; hosting downloads the archive and extracts it into `/opt/ml/model` of the serving
container. `output/data` becomes `output.tar.gz` the same way.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path


def pack(source: Path, archive: Path) -> Path:
    """Every file under `source`, at the archive root, in sorted order (the same tree gives the same members)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)
    return archive


def unpack(archive: Path, target: Path) -> Path:
    """A fresh `target` holding the archive's members; links and paths leaving `target` are refused."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(target, filter="data")
    return target
