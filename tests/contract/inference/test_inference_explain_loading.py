"""The explanation path loads after /ping: the real application under uvicorn on a real socket, with a
stand-in predictor and an explanation path whose load the test holds back (no framework is loaded)."""

from __future__ import annotations

import gc
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import inference.served
import numpy as np
import pytest
import uvicorn
from inference.app import create_app
from inference.artifact import Manifest
from inference.explain import Explained, Explainer
from inference.readiness import free_port
from inference.settings import ServeSettings

from tests.helpers.inference_fixtures import png_bytes, random_pixels

CLASSES = ["a", "b", "c"]
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def write_artifact(model_dir: Path) -> Path:
    model_dir.mkdir(parents=True)
    (model_dir / "model.pt2").write_bytes(b"stand-in: load_predictor is replaced")
    manifest = {
        "schema_version": 1,
        "name": "cnn",
        "framework": "pytorch",
        "task": "image_classification",
        "model_file": "model.pt2",
        "class_names": CLASSES,
        "input": {"height": 8, "width": 6},
        "explanation": {"model_file": "explain.pt2", "output": "logits"},
    }
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    return model_dir


def uniform(entry: str, batch: np.ndarray) -> np.ndarray:
    return np.full((len(batch), len(CLASSES)), 1 / len(CLASSES), np.float32)


def fake_explainer(manifest: Manifest) -> Explainer:
    def attribute(entry: str, batch: np.ndarray, request: object, cancel: threading.Event) -> Explained:
        zeros = np.zeros((len(batch), 8, 6), np.float32)
        return Explained(uniform(entry, batch), [0] * len(batch), zeros, [None] * len(batch), batch)

    return Explainer(manifest, attribute)


class HeldBack:
    """`load_explainer` that waits until `release` is set, then answers `outcome(manifest)`."""

    def __init__(self, outcome: Callable[[Manifest], Explainer]) -> None:
        self.release = threading.Event()
        self.outcome = outcome

    def __call__(self, manifest: Manifest) -> Explainer:
        assert self.release.wait(30), "the test never released the explanation path"
        return self.outcome(manifest)


def broken(manifest: Manifest) -> Explainer:
    raise RuntimeError("explain.pt2: cannot load the explanation program (stand-in)")


def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loader: HeldBack) -> Iterator[str]:
    monkeypatch.setattr(inference.served, "load_predictor", lambda manifest, threads: uniform)
    monkeypatch.setattr(inference.served, "load_explainer", loader)
    settings = ServeSettings(model_dir=write_artifact(tmp_path / "model"), host="127.0.0.1", explain_deadline_s=1.5)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loader.release.set()
        server.should_exit = True
        thread.join(10)
        gc.unfreeze()  # the server froze this process's objects (inference.served): give them back


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


IMAGE = {"Content-Type": "image/png"}
EXPLAIN = {**IMAGE, ATTRIBUTES: "explain=gxi"}


@pytest.fixture
def held_back() -> HeldBack:
    return HeldBack(fake_explainer)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, held_back: HeldBack) -> Iterator[str]:
    yield from serve(monkeypatch, tmp_path, held_back)


def test_ping_and_predictions_do_not_wait_for_the_explanation_path(server: str) -> None:
    status, _, document = call(server + "/ping")
    assert status == 200 and document["explanations"] == "loading"
    status, _, document = call(server + "/invocations", png_bytes(random_pixels(1)), IMAGE)
    assert status == 200 and len(document["predictions"]) == 1


def test_an_explanation_still_loading_at_its_deadline_is_503_with_retry_after(server: str) -> None:
    started = time.monotonic()
    status, headers, document = call(server + "/invocations", png_bytes(random_pixels(2)), EXPLAIN)
    assert status == 503 and document["error"] == "explanation_loading", document
    assert time.monotonic() - started >= 1.4  # it waited for the path, up to its deadline (1.5 s)
    retry = {key.lower(): value for key, value in headers.items()}["retry-after"]
    assert int(retry) >= 1 and document["retry_after_s"] == int(retry)


def test_an_explanation_waits_for_the_path_and_is_answered_once_it_loads(server: str, held_back: HeldBack) -> None:
    answer: dict[str, tuple[int, dict, dict]] = {}
    waiting = threading.Thread(
        target=lambda: answer.setdefault("it", call(server + "/invocations", png_bytes(random_pixels(3)), EXPLAIN))
    )
    waiting.start()
    time.sleep(0.5)
    assert not answer  # still waiting for the path
    held_back.release.set()
    waiting.join(10)
    status, _, document = answer["it"]
    assert status == 200, document
    assert document["predictions"][0]["explanation"]["target"] == {"index": 0, "label": "a"}
    assert call(server + "/ping")[2]["explanations"] == "ready"


def test_a_path_that_fails_to_load_answers_500_and_predictions_go_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loader = HeldBack(broken)
    loader.release.set()
    for url in serve(monkeypatch, tmp_path, loader):
        deadline = time.monotonic() + 10
        while call(url + "/ping")[2]["explanations"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert call(url + "/ping")[2]["explanations"] == "failed"
        status, _, document = call(url + "/invocations", png_bytes(random_pixels(4)), EXPLAIN)
        assert status == 500 and document["error"] == "explanation_failed"
        assert "cannot load the explanation program" in document["message"]
        assert call(url + "/invocations", png_bytes(random_pixels(4)), IMAGE)[0] == 200
