"""Fixtures for the serving tests: artifacts built per docs/contracts.md, real servers on real sockets.

Each server is `python -m inference serve` in a subprocess on a free port, started once per
session (model loading dominates the run time) and stopped with SIGTERM at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.inference_fixtures import build_cnn_artifact, build_mlp_artifact
from tests.helpers.inference_server import ServerProcess


@pytest.fixture(scope="session")
def cnn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cnn_artifact(tmp_path_factory.mktemp("artifacts") / "cnn")


@pytest.fixture(scope="session")
def mlp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mlp_artifact(tmp_path_factory.mktemp("artifacts") / "mlp")


@pytest.fixture(scope="session")
def mlp_features_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mlp_artifact(tmp_path_factory.mktemp("artifacts") / "mlp_features", features_in_model=False)


def _session_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[ServerProcess]:
    server = ServerProcess(model_dir, tmp_path_factory.mktemp("logs") / f"{name}.log").start()
    yield server
    code = server.stop()
    assert code == 0, f"server exited with {code} after SIGTERM:\n{server.log()}"


@pytest.fixture(scope="session")
def cnn_server(cnn_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _session_server(cnn_dir, tmp_path_factory, "cnn")


@pytest.fixture(scope="session")
def mlp_server(mlp_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _session_server(mlp_dir, tmp_path_factory, "mlp")


@pytest.fixture(scope="session")
def mlp_features_server(mlp_features_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _session_server(mlp_features_dir, tmp_path_factory, "mlp_features")
