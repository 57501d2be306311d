"""What the container tests share: real data subsets, an /opt/ml tree run through a training image."""

from __future__ import annotations

import http.client
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared_names import FRAMEWORK_BY_MODEL
from tests.helpers import docker_cli

# The serving image of each model kind, as the stacks pick it (infra/images.py: serving_image).
SERVING_IMAGE = {model: f"inference-{framework}" for model, framework in FRAMEWORK_BY_MODEL.items()}

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"
FSDD_SPEAKERS = ("george", "jackson", "nicolas", "theo")


@dataclass(frozen=True)
class TrainingRun:
    """One `docker run ... train` to its end: the /opt/ml tree, exit code and output."""

    root: Path
    exit_code: int
    output: str

    @property
    def model_dir(self) -> Path:
        return self.root / "model"


def datasets() -> Path:
    if not (DATASETS / "cifar10-dev").is_dir() or not (DATASETS / "fsdd-dev").is_dir():
        pytest.skip(f"the real data sets are not at {DATASETS} (see its README)")
    return DATASETS


def copy_images(target: Path, per_class: int, offset: int = 0) -> None:
    """The first `per_class` JPEGs (after `offset`) of every cifar10-dev class, in ImageFolder layout."""
    for folder in sorted((datasets() / "cifar10-dev").iterdir()):
        (target / folder.name).mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.glob("*.jpg"))[offset : offset + per_class]:
            shutil.copy(path, target / folder.name / path.name)


def copy_recordings(target: Path, speakers: tuple[str, ...], indices: range) -> None:
    """fsdd-dev recordings `<digit>_<speaker>_<index>.wav` of these speakers and indices, flat."""
    target.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        for speaker in speakers:
            for index in indices:
                name = f"{digit}_{speaker}_{index}.wav"
                shutil.copy(datasets() / "fsdd-dev" / name, target / name)


def train_in_container(image: str, root: Path, timeout_s: float = 600) -> TrainingRun:
    """`docker run --rm --network none -v ROOT:/opt/ml IMAGE train`, as SageMaker starts a training job."""
    result = docker_cli.run(
        image, ["train"], options=["--network", "none", "-v", f"{root}:/opt/ml"], timeout_s=timeout_s
    )
    return TrainingRun(root, result.returncode, result.stdout + result.stderr)


class InFlightRequests:
    """`count` concurrent POSTs of one `.npy` body to a served container, for the drain tests: `start()`
    returns once every body is sent, `join()` waits for the answers; `statuses` (-1 for a request lost)
    and `finished` (monotonic times) are what the tests judge."""

    def __init__(self, port: int, payload: bytes, count: int = 12) -> None:
        self.port, self.payload = port, payload
        self.statuses: list[int] = []
        self.finished: list[float] = []
        self._sent = threading.Semaphore(0)
        self._threads = [threading.Thread(target=self._one) for _ in range(count)]

    def _one(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request("POST", "/invocations", self.payload, {"Content-Type": "application/x-npy"})
            self._sent.release()
            response = connection.getresponse()
            response.read()
            self.statuses.append(response.status)
            self.finished.append(time.monotonic())
        except Exception as error:  # a request lost at shutdown fails the test
            self.statuses.append(-1)
            print(repr(error))
            self._sent.release()
        finally:
            connection.close()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        for _ in self._threads:
            assert self._sent.acquire(timeout=60)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(60)
