"""Container tests: the built images run as SageMaker runs them (`make container-test`, after `make images`).

Not part of `make test`: they need a Docker engine and the four images, which `make container-test`
provides (it sets CONTAINER_TESTS=1). Training data: small real subsets of `../shared/datasets`.
The training runs are session fixtures: the serving tests serve the artifacts they wrote.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import docker_cli
from tests.helpers.containers import FSDD_SPEAKERS, TrainingRun, copy_images, copy_recordings, train_in_container
from tests.helpers.opt_ml import make_opt_ml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

if os.environ.get("CONTAINER_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]  # `make container-test` runs them: they need Docker and the images


@pytest.fixture(scope="session", autouse=True)
def images() -> Iterator[dict[str, str]]:
    kinds = ("inference-pytorch", "inference-tensorflow", "training-pytorch", "training-tensorflow")
    names = {name: docker_cli.image(name) for name in kinds}
    missing = [ref for ref in names.values() if not docker_cli.image_exists(ref)]
    assert not missing, f"images not built: {missing} (run `make images`)"
    yield names
    docker_cli.remove_all()


@pytest.fixture(scope="session")
def cnn_run(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> TrainingRun:
    tree = make_opt_ml(
        tmp_path_factory.mktemp("cnn") / "ml", {"model": "cnn", "epochs": "2", "batch_size": "64", "width": "8"}
    )
    copy_images(tree.channel("train"), per_class=40)
    return train_in_container(images["training-pytorch"], tree.root)


@pytest.fixture(scope="session")
def mlp_run(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> TrainingRun:
    tree = make_opt_ml(tmp_path_factory.mktemp("mlp") / "ml", {"model": "mlp", "epochs": "3", "hidden_units": "64"})
    copy_recordings(tree.channel("train"), FSDD_SPEAKERS[:3], range(5, 10))
    return train_in_container(images["training-tensorflow"], tree.root)
