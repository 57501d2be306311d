"""The serving contract of docs/architecture.md over real sockets: content types, errors, /ping, batching, top_k."""

from __future__ import annotations

import http.client
import json
import socket
import time

import httpx
import numpy as np
import pytest

from tests.helpers.inference_fixtures import (
    AUDIO_CLASSES,
    FEATURE_SHAPE,
    IMAGE_CLASSES,
    NUM_SAMPLES,
    b64,
    npy_bytes,
    png_bytes,
    random_pixels,
    tone,
    wav_bytes,
)

LIMIT = 6 * 1024 * 1024
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def post(server, body: bytes, content_type: str | None, path: str = "/invocations", **headers: str):
    if content_type is not None:
        headers["Content-Type"] = content_type
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def assert_predictions(response: httpx.Response, count: int, classes: list[str]) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    predictions = response.json()["predictions"]
    assert len(predictions) == count
    for prediction in predictions:
        probabilities = prediction["probabilities"]
        assert len(probabilities) == len(classes)
        assert abs(sum(probabilities) - 1) < 1e-4
        assert prediction["index"] == int(np.argmax(probabilities))
        assert prediction["label"] == classes[prediction["index"]]
        assert prediction["probability"] == probabilities[prediction["index"]]
    return predictions


def assert_error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    document = response.json()
    assert set(document) == {"error", "message"}
    assert words.lower() in document["message"].lower(), document["message"]


# --- /ping --------------------------------------------------------------------------------------


def test_ping_answers_fast_once_loaded(cnn_server, mlp_server):
    for server in (cnn_server, mlp_server):
        timings = []
        for _ in range(20):
            start = time.perf_counter()
            response = httpx.get(server.url + "/ping", timeout=2)
            timings.append(time.perf_counter() - start)
            assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert max(timings) < 0.5, timings


# --- image model --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_cnn_accepts_png_and_jpeg_of_any_size(cnn_server, fmt, content_type):
    body = png_bytes(random_pixels(1, 50, 70), fmt)
    assert_predictions(post(cnn_server, body, content_type), 1, IMAGE_CLASSES)


def test_cnn_accepts_grayscale_and_rgba_png(cnn_server):
    from PIL import Image

    for mode in ("L", "RGBA", "P"):
        image = Image.fromarray(random_pixels(2)).convert(mode)
        import io

        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        assert_predictions(post(cnn_server, buffer.getvalue(), "image/png"), 1, IMAGE_CLASSES)


def test_cnn_npy_pixels_and_model_input_single_and_batched(cnn_server):
    pixels = np.stack([random_pixels(i) for i in range(5)])
    floats = pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255
    for array, count in [(pixels[0], 1), (pixels, 5), (floats[0], 1), (floats, 5)]:
        assert_predictions(post(cnn_server, npy_bytes(array), "application/x-npy"), count, IMAGE_CLASSES)
    # uint8 pixels and the same pixels as model input are the same input
    a = post(cnn_server, npy_bytes(pixels), "application/x-npy").json()["predictions"]
    b = post(cnn_server, npy_bytes(floats), "application/x-npy").json()["predictions"]
    assert np.allclose([p["probabilities"] for p in a], [p["probabilities"] for p in b], atol=1e-6)


def test_cnn_json_instances_mixed_forms_keep_their_order(cnn_server):
    pixels = [random_pixels(i) for i in range(3)]
    instances = [
        {"b64": b64(png_bytes(pixels[0]))},
        (pixels[1].transpose(2, 0, 1) / 255).tolist(),
        pixels[2].tolist(),
        {"b64": b64(png_bytes(pixels[0], "PNG"))},
    ]
    response = post(cnn_server, json.dumps({"instances": instances}).encode(), "application/json; charset=utf-8")
    predictions = assert_predictions(response, 4, IMAGE_CLASSES)
    assert predictions[0]["probabilities"] == pytest.approx(predictions[3]["probabilities"], abs=1e-6)
    alone = post(cnn_server, npy_bytes(pixels[2]), "application/x-npy").json()["predictions"][0]
    assert predictions[2]["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)
    assert predictions[1]["probabilities"] != pytest.approx(predictions[0]["probabilities"], abs=1e-6)


def test_runtime_path_is_the_same_handler(cnn_server):
    body = png_bytes(random_pixels(3))
    a = post(cnn_server, body, "image/png").json()
    b = post(cnn_server, body, "image/png", path="/endpoints/my-endpoint/invocations").json()
    assert a == b


def test_top_k_from_custom_attributes(cnn_server):
    body = png_bytes(random_pixels(4))
    default = post(cnn_server, body, "image/png").json()["predictions"][0]
    assert len(default["top_k"]) == min(5, len(IMAGE_CLASSES))
    for header, k in [
        ("top_k=1", 1),
        ("top_k=3", 3),
        ("foo=bar; top_k=2", 2),
        ("top_k=99", len(IMAGE_CLASSES)),
    ]:
        prediction = post(cnn_server, body, "image/png", **{ATTRIBUTES: header}).json()["predictions"][0]
        ranked = prediction["top_k"]
        assert len(ranked) == k
        assert [r["probability"] for r in ranked] == sorted(prediction["probabilities"], reverse=True)[:k]
        assert ranked[0]["index"] == prediction["index"]
        assert all(r["label"] == IMAGE_CLASSES[r["index"]] for r in ranked)
    assert_error(post(cnn_server, body, "image/png", **{ATTRIBUTES: "top_k=0"}), 400, "top_k")
    assert_error(post(cnn_server, body, "image/png", **{ATTRIBUTES: "top_k=abc"}), 400, "top_k")


# --- audio model --------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["audio/wav", "audio/x-wav"])
def test_mlp_accepts_wav(mlp_server, content_type):
    body = wav_bytes((tone(440, 16000, 1.3) * 32767).astype(np.int16), 16000)
    assert_predictions(post(mlp_server, body, content_type), 1, AUDIO_CLASSES)


def test_mlp_npy_waveforms_and_features_single_and_batched(mlp_server):
    rng = np.random.default_rng(0)
    waves = rng.uniform(-0.5, 0.5, (4, NUM_SAMPLES)).astype(np.float32)
    features = rng.normal(size=(3, *FEATURE_SHAPE)).astype(np.float32)
    for array, count in [(waves[0], 1), (waves, 4), (features[0], 1), (features, 3)]:
        assert_predictions(post(mlp_server, npy_bytes(array), "application/x-npy"), count, AUDIO_CLASSES)


def test_mlp_json_instances_mixed_forms(mlp_server):
    rng = np.random.default_rng(1)
    wave = tone(300, 8000, 1.0)
    instances = [
        {"b64": b64(wav_bytes(wave, 8000))},
        rng.normal(size=FEATURE_SHAPE).tolist(),
        wave.tolist(),
    ]
    predictions = assert_predictions(
        post(mlp_server, json.dumps({"instances": instances}).encode(), "application/json"), 3, AUDIO_CLASSES
    )
    assert predictions[0]["probabilities"] == pytest.approx(predictions[2]["probabilities"], abs=1e-5)


def test_features_only_model_refuses_waveforms(mlp_features_server):
    features = np.zeros((2, *FEATURE_SHAPE), np.float32)
    assert_predictions(post(mlp_features_server, npy_bytes(features), "application/x-npy"), 2, AUDIO_CLASSES)
    wav = wav_bytes(tone(300, 8000, 1.0), 8000)
    assert_error(post(mlp_features_server, wav, "audio/wav"), 415, "application/x-npy")
    waves = np.zeros((2, NUM_SAMPLES), np.float32)
    assert_error(post(mlp_features_server, npy_bytes(waves), "application/x-npy"), 422, "features")


# --- errors -------------------------------------------------------------------------------------


def test_error_codes(cnn_server, mlp_server):
    png = png_bytes(random_pixels(5))
    assert_error(post(cnn_server, png, "text/csv"), 415, "image/png")
    assert_error(post(cnn_server, png, None), 415, "not accepted")
    assert_error(post(cnn_server, b"\x89PNG\r\n\x1a\nnot really", "image/png"), 400, "image")
    assert_error(post(cnn_server, png[: len(png) // 2], "image/png"), 400, "image")
    assert_error(post(cnn_server, b"", "image/png"), 400, "empty")
    assert_error(post(cnn_server, png, "image/png", Accept="text/csv"), 406, "application/json")
    assert post(cnn_server, png, "image/png", Accept="text/html, application/json;q=0.9").status_code == 200
    assert post(cnn_server, png, "image/png", Accept="*/*").status_code == 200
    assert_error(post(cnn_server, npy_bytes(np.zeros((4, 4), np.float32)), "application/x-npy"), 422, "shape")
    assert_error(post(cnn_server, npy_bytes(np.zeros((3, 31, 32), np.float32)), "application/x-npy"), 422, "shape")
    assert_error(
        post(cnn_server, npy_bytes(np.full((3, 32, 32), np.nan, np.float32)), "application/x-npy"),
        422,
        "finite",
    )
    assert_error(post(cnn_server, b'{"instances": [[[1e999]]]}', "application/json"), 422, "finite")
    assert_error(post(cnn_server, b'{"instances": []}', "application/json"), 422, "empty")
    assert_error(post(cnn_server, b'{"inputs": [1]}', "application/json"), 400, "instances")
    assert_error(post(cnn_server, b"{not json", "application/json"), 400, "json")
    assert_error(post(mlp_server, png, "image/png"), 415, "audio/wav")
    assert_error(post(mlp_server, b"RIFF\x00\x00", "audio/wav"), 400, "wav")
    assert_error(post(mlp_server, npy_bytes(np.zeros(100, np.float32)), "application/x-npy"), 422, "shape")
    assert_error(post(mlp_server, npy_bytes(np.zeros(NUM_SAMPLES, np.int16)), "application/x-npy"), 422, "dtype")
    assert httpx.get(cnn_server.url + "/nope").status_code == 404
    assert httpx.get(cnn_server.url + "/invocations").status_code == 405
    cnn_server.ping()


# --- payload limit ------------------------------------------------------------------------------


def _raw_request(server, head: str, body_chunks=(), read_timeout: float = 10.0) -> tuple[int, bytes]:
    """Send a request by hand (headers, then body chunks while the server lets us); read the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body went out: what we want
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def test_413_on_content_length_without_reading_the_body(cnn_server):
    head = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {LIMIT + 1}\r\n\r\n"
    start = time.perf_counter()
    status, body = _raw_request(cnn_server, head)  # no body byte is ever sent
    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"
    assert time.perf_counter() - start < 5


def test_413_while_streaming_a_chunked_body(cnn_server):
    head = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"x" * (1024 * 1024)
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(6)]
    chunks += [b"1\r\nx\r\n", b"0\r\n\r\n"]
    status, body = _raw_request(cnn_server, head, chunks)
    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"
    cnn_server.ping()


def test_body_of_exactly_the_limit_is_read_and_one_more_byte_is_413(cnn_server):
    at_limit = post(cnn_server, b"\0" * LIMIT, "image/png")
    assert_error(at_limit, 400, "image")
    over = post(cnn_server, b"\0" * (LIMIT + 1), "image/png")
    assert_error(over, 413, "limit")
    cnn_server.ping()


# --- boto3 runtime path -------------------------------------------------------------------------


def test_boto3_sagemaker_runtime_reaches_the_local_server(cnn_server, monkeypatch):
    import boto3
    from botocore.exceptions import ClientError

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=cnn_server.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    body = png_bytes(random_pixels(6))
    response = client.invoke_endpoint(
        EndpointName="cnn-endpoint",
        Body=body,
        ContentType="image/png",
        Accept="application/json",
        CustomAttributes="top_k=2",
    )
    document = json.loads(response["Body"].read())
    assert len(document["predictions"][0]["top_k"]) == 2
    assert document == post(cnn_server, body, "image/png", **{ATTRIBUTES: "top_k=2"}).json()
    with pytest.raises(ClientError) as raised:
        client.invoke_endpoint(EndpointName="cnn-endpoint", Body=b"junk", ContentType="image/png")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "image" in raised.value.response["Error"]["Message"]
