"""Each serving image holds one framework (inference/Dockerfile, FRAMEWORK): the server must predict and
explain with the other framework's packages absent. Run here as the images would run it: the real
server (`python -m inference serve`) with those packages made unimportable (a `sitecustomize` that
answers ModuleNotFoundError for them, as an interpreter without them would)."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.explain_artifacts import build_explained_cnn, build_explained_mlp
from tests.helpers.inference_fixtures import png_bytes, random_pixels, tone, wav_bytes
from tests.helpers.inference_server import ServerProcess

pytestmark = pytest.mark.slow

# What the other image lacks: its framework and the packages only its model kind needs
# (inference/requirements-pytorch.txt, inference/requirements-tensorflow.txt).
ABSENT = {
    "cnn": ("tensorflow", "keras", "tf_keras", "scipy", "h5py"),
    "mlp": ("torch", "torchvision", "captum", "PIL", "matplotlib"),
}
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"

SITECUSTOMIZE = '''
import os, sys
from importlib.machinery import PathFinder

_ABSENT = frozenset(filter(None, os.environ.get("ISOLATION_TEST_ABSENT", "").split(",")))


class _PathFinderWithout(PathFinder):
    """The path finder, blind to the absent packages: `import` raises ModuleNotFoundError and
    `importlib.util.find_spec` returns None, as for a package that is not installed."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in _ABSENT:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [_PathFinderWithout if f is PathFinder else f for f in sys.meta_path]
for _name in [m for m in sys.modules if m.split(".")[0] in _ABSENT]:
    del sys.modules[_name]
'''


def post(url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url + "/invocations", data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


def isolated_server(kind: str, model_dir: Path, root: Path) -> Iterator[ServerProcess]:
    site = root / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "ISOLATION_TEST_ABSENT": ",".join(ABSENT[kind]),
    }
    server = ServerProcess(model_dir, root / "server.log", env=env).start()
    yield server
    assert server.stop() == 0, server.log()


@pytest.fixture(scope="module")
def cnn_without_tensorflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("isolated-cnn")
    yield from isolated_server("cnn", build_explained_cnn(root / "model"), root)


@pytest.fixture(scope="module")
def mlp_without_torch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("isolated-mlp")
    yield from isolated_server("mlp", build_explained_mlp(root / "model"), root)


def test_the_blocker_works(tmp_path: Path) -> None:
    """The stand-in for an absent package is real: with it, importing the package fails."""
    import subprocess
    import sys

    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    result = subprocess.run(
        [sys.executable, "-c", "import importlib.util; assert importlib.util.find_spec('scipy') is None; import scipy"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "ISOLATION_TEST_ABSENT": "scipy"},
    )
    assert result.returncode == 1 and "ModuleNotFoundError: No module named 'scipy'" in result.stderr, result.stderr


def test_the_cnn_predicts_and_explains_without_tensorflow_or_scipy(cnn_without_tensorflow: ServerProcess) -> None:
    status, body = post(cnn_without_tensorflow.url, png_bytes(random_pixels(1)), "image/png")
    assert status == 200 and len(json.loads(body)["predictions"]) == 1
    status, body = post(
        cnn_without_tensorflow.url,
        png_bytes(random_pixels(2)),
        "image/png",
        {ATTRIBUTES: "explain=ig;steps=4", "Accept": "image/png"},
    )
    assert status == 200 and body.startswith(b"\x89PNG")


def test_the_mlp_predicts_and_explains_without_torch_or_pillow(mlp_without_torch: ServerProcess) -> None:
    wav = wav_bytes(tone(440.0, 8000, 1.0), 8000)
    status, body = post(mlp_without_torch.url, wav, "audio/wav")
    assert status == 200 and len(json.loads(body)["predictions"]) == 1
    status, body = post(mlp_without_torch.url, wav, "audio/wav", {ATTRIBUTES: "explain=ig;steps=4"})
    assert status == 200 and "explanation" in json.loads(body)["predictions"][0]
