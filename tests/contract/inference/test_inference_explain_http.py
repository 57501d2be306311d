"""Explanations through the real server (`python -m inference serve`) over HTTP."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.explain_artifacts import build_explained_cnn, build_explained_mlp
from tests.helpers.inference_fixtures import npy_bytes, png_bytes, random_pixels, tone, wav_bytes
from tests.helpers.inference_server import ServerProcess

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def post(
    url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url + "/invocations", data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _server(model_dir: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(model_dir, log, env=env or {}).start()
    yield server
    assert server.stop() == 0, server.log()


def post_png(server: ServerProcess, seed: int, attributes: str | None = None, **headers: str):
    """POST a PNG of random pixels (`seed`) to `server`, with these custom attributes and headers."""
    sent = {**({ATTRIBUTES: attributes} if attributes else {}), **headers}
    return post(server.url, png_bytes(random_pixels(seed)), "image/png", sent)


@pytest.fixture(scope="module")
def explained_cnn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("explain_cnn")
    yield from _server(
        build_explained_cnn(root / "model"),
        root / "server.log",
        {"INFERENCE_MAX_CONCURRENT_EXPLANATIONS": "1", "INFERENCE_EXPLAIN_DEADLINE_S": "5"},
    )


@pytest.fixture(scope="module")
def explained_mlp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("explain_mlp")
    yield from _server(build_explained_mlp(root / "model"), root / "server.log")


@pytest.mark.slow
def test_cnn_integrated_gradients_json_beside_top_k(explained_cnn_server: ServerProcess) -> None:
    status, headers, body = post_png(explained_cnn_server, 3, "top_k=2;explain=integrated_gradients")
    assert status == 200, body
    document = json.loads(body)
    assert document["explanation"] == {
        "method": "integrated_gradients",
        "output": "logit",
        "layout": ["height", "width"],
        "steps": 32,
        "rule": "gauss_legendre",
        "baseline": "zeros (black image)",
    }
    (prediction,) = document["predictions"]
    assert len(prediction["top_k"]) == 2
    explanation = prediction["explanation"]
    assert explanation["target"] == {"index": prediction["index"], "label": prediction["label"]}
    assert np.asarray(explanation["attributions"]).shape == (32, 32)
    delta = explanation["completeness_delta"]
    assert abs(delta) < 0.02 * abs(explanation["total"] - delta) + 1e-3  # within the sanity tests' tolerance


@pytest.mark.slow
def test_cnn_png_overlay_and_requested_target(explained_cnn_server: ServerProcess) -> None:
    from PIL import Image

    status, headers, body = post_png(explained_cnn_server, 4, "explain=gxi;target=cat", Accept="image/png")
    assert status == 200, body
    assert headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(body)).size == (224, 224)  # 32 px, 7x nearest neighbour
    status, _, body = post_png(explained_cnn_server, 4, "explain=gxi;target=cat")
    assert json.loads(body)["predictions"][0]["explanation"]["target"] == {"index": 2, "label": "cat"}


@pytest.mark.slow
def test_explanations_beyond_the_limit_get_429_and_predictions_go_on(explained_cnn_server: ServerProcess) -> None:
    images = np.random.default_rng(0).uniform(0, 1, (8, 3, 32, 32)).astype(np.float32)
    slow: dict[str, int] = {}

    def long_explanation() -> None:
        slow["status"] = post(
            explained_cnn_server.url, npy_bytes(images), "application/x-npy", {ATTRIBUTES: "explain=ig;steps=256"}
        )[0]

    thread = threading.Thread(target=long_explanation)
    thread.start()
    time.sleep(0.5)  # the long one holds the only slot (8 rows x 256 steps: seconds)
    status, headers, body = post_png(explained_cnn_server, 5, "explain=gxi")
    prediction = post_png(explained_cnn_server, 5)
    thread.join()
    assert status == 429, body
    assert json.loads(body)["error"] == "too_many_explanations"
    assert json.loads(body)["retry_after_s"] == int(headers["retry-after"])  # InvokeEndpoint drops headers
    assert int(headers["retry-after"]) >= 1
    assert prediction[0] == 200 and "explanation" not in json.loads(prediction[2])["predictions"][0]
    assert slow["status"] in (200, 503)  # done, or stopped at its deadline on a busy machine
    deadline = time.monotonic() + 10  # the slot comes back once the thread has stopped
    while (status := post_png(explained_cnn_server, 5, "explain=gxi")[0]) == 429 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 200


@pytest.mark.slow
def test_bad_explain_attributes_are_400(explained_cnn_server: ServerProcess) -> None:
    for attributes in ("explain=shap", "explain=ig;steps=0", "explain=ig;target=zebra"):
        status, _, body = post_png(explained_cnn_server, 1, attributes)
        assert status == 400 and json.loads(body)["error"] == "bad_request", (attributes, body)
    rows = np.zeros((9, 3, 32, 32), np.float32)  # over INFERENCE_MAX_EXPLAIN_ROWS (8)
    status, _, body = post(explained_cnn_server.url, npy_bytes(rows), "application/x-npy", {ATTRIBUTES: "explain=gxi"})
    assert status == 413, body


@pytest.mark.slow
def test_mlp_waveform_explanation_per_frame_coefficient_and_time_span(explained_mlp_server: ServerProcess) -> None:
    wav = wav_bytes((tone(900, 8000, 1.0) * 32767).astype(np.int16), 8000)
    status, _, body = post(explained_mlp_server.url, wav, "audio/wav", {ATTRIBUTES: "explain=integrated_gradients"})
    assert status == 200, body
    document = json.loads(body)
    assert document["explanation"]["layout"] == ["frame", "coefficient"]
    explanation = document["predictions"][0]["explanation"]
    assert np.asarray(explanation["attributions"]).shape == (61, 20)
    assert len(explanation["frames"]) == 61 and len(explanation["coefficients"]) == 20
    spans = explanation["time_spans"]
    assert spans[1] == {"start_s": 0.016, "end_s": 0.048, "attribution": pytest.approx(explanation["frames"][1])}
    status, _, _ = post(explained_mlp_server.url, wav, "audio/wav", {ATTRIBUTES: "explain=ig", "Accept": "image/png"})
    assert status == 406


@pytest.mark.slow
def test_an_artifact_without_an_explanation_path_gets_a_clear_400(cnn_server: ServerProcess) -> None:
    status, _, body = post_png(cnn_server, 1, "explain=ig")
    assert status == 400
    error = json.loads(body)
    assert error["error"] == "explanation_unavailable" and "manifest.json" in error["message"]
    assert post_png(cnn_server, 1)[0] == 200  # still serves predictions


@pytest.mark.slow
def test_client_explain_writes_pngs_beside_the_inputs(
    explained_cnn_server: ServerProcess,
    explained_mlp_server: ServerProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from inference.client import main
    from PIL import Image

    image = tmp_path / "cat.png"
    image.write_bytes(png_bytes(random_pixels(7, 48, 40)))
    assert main(["--url", explained_cnn_server.url, "--explain", "gradient_x_input", str(image)]) == 0
    assert Image.open(tmp_path / "cat.png.explain.png").size == (224, 224)
    audio = tmp_path / "tone.wav"
    audio.write_bytes(wav_bytes((tone(300, 8000, 1.0) * 32767).astype(np.int16), 8000))
    assert main(["--url", explained_mlp_server.url, "--explain", "ig", str(audio)]) == 0
    assert Image.open(tmp_path / "tone.wav.explain.png").size == (61 * 6, 20 * 6)  # frames x coefficients
    assert "cat.png" in capsys.readouterr().out
