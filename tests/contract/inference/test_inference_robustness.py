"""Hundreds of malformed requests (after Triton's qa/L0_http_fuzz): zero 5xx, the server stays healthy."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from tests.helpers.inference_fixtures import (
    FEATURE_SHAPE,
    NUM_SAMPLES,
    b64,
    npy_bytes,
    png_bytes,
    random_pixels,
    tone,
    wav_bytes,
)

CLIENT_ERRORS = {400, 406, 413, 415, 422}


def _truncations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    return [data[: rng.randrange(1, len(data))] for _ in range(count)]


def _corruptions(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        mutable = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            mutable[rng.randrange(len(mutable))] = rng.randrange(256)
        out.append(bytes(mutable))
    return out


def _npy_header_lies(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        shape = tuple(rng.choice([0, 1, 3, 7, 32, 10**6, 2**40]) for _ in range(rng.randint(0, 5)))
        dtype = rng.choice(["<f4", "<f8", "|u1", "<i8", "|O", "<c8", "|S4", "<U3"])
        header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"
        header = header.ljust(118) + "\n"
        out.append(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + rng.randbytes(64))
    return out


def _json_bodies(rng: random.Random, shape: tuple[int, ...]) -> list[bytes]:
    bodies = [
        b"[]",
        b"{}",
        b"null",
        b"1e999999",
        b'{"instances": 5}',
        b'{"instances": [null]}',
        b'{"instances": ["text"]}',
        b'{"instances": [{"b64": 12}]}',
        b'{"instances": [{"b64": "!!!"}]}',
        b'{"instances": [{"b64": "aGVsbG8="}]}',
        b'{"instances": [{"b64": "aGVsbG8=", "x": 1}]}',
        b'{"instances": [[1, [2, 3]]]}',
        b'{"instances": [[NaN]]}',
        b'{"instances": [[Infinity, -Infinity]]}',
        b'{"instances": [' + b"9" * 5000 + b"]}",
        b'{"instances": [[' + b"1" * 400 + b"]]}",
        b'{"instances": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        b"\xff\xfe{}",
        '{"instances": ["\u00e9"]}'.encode(),
        json.dumps({"instances": [np.full(shape, 1e300).tolist()]}).encode(),
        json.dumps({"instances": [np.full(shape, -1e39).tolist()]}).encode(),
        json.dumps({"instances": [np.zeros(shape[:-1]).tolist()]}).encode(),
        json.dumps({"instances": [np.zeros((*shape, 2)).tolist()]}).encode(),
        json.dumps({"instances": [[True, False]]}).encode(),
    ]
    for _ in range(30):
        dims = tuple(rng.randint(0, 9) for _ in range(rng.randint(0, 4)))
        bodies.append(json.dumps({"instances": [np.ones(dims).tolist()]}).encode())
    return bodies


def _image_requests(rng: random.Random) -> list[tuple[str, bytes, dict[str, str]]]:
    png, jpeg = png_bytes(random_pixels(7, 40, 40)), png_bytes(random_pixels(8, 40, 40), "JPEG")
    requests = []
    for content_type, data in (("image/png", png), ("image/jpeg", jpeg)):
        requests += [(content_type, body, {}) for body in _truncations(data, rng, 25)]
        requests += [(content_type, body, {}) for body in _corruptions(data, rng, 15)]
        requests += [(content_type, rng.randbytes(rng.randint(1, 4000)), {}) for _ in range(10)]
    requests += [("image/png", png_bytes(random_pixels(9, 1, 1)), {}), ("image/jpeg", png, {})]
    # a PNG whose header claims 60000 x 60000 pixels
    requests.append(("image/png", png[:16] + (60000).to_bytes(4, "big") * 2 + png[24:], {}))
    requests += [("application/x-npy", body, {}) for body in _npy_header_lies(rng, 30)]
    requests += [("application/x-npy", rng.randbytes(rng.randint(1, 500)), {}) for _ in range(10)]
    for array in (
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((0, 32, 32, 3), np.uint8),
        np.zeros((2, 3, 32, 32), np.int64),
        np.zeros((3, 32, 32), np.complex64),
        np.zeros((1, 1, 3, 32, 32), np.float32),
        np.array(5.0),
        np.zeros((32, 32, 3), np.float32),
        np.full((3, 32, 32), np.inf, np.float32),
    ):
        requests.append(("application/x-npy", npy_bytes(array), {}))
    requests += [("application/json", body, {}) for body in _json_bodies(rng, (3, 32, 32))]
    requests += [("application/json", json.dumps({"instances": [np.full((8, 8, 3), 300).tolist()]}).encode(), {})]
    return requests


def _audio_requests(rng: random.Random) -> list[tuple[str, bytes, dict[str, str]]]:
    wav = wav_bytes((tone(500, 22050, 0.5) * 32767).astype(np.int16), 22050)
    requests = []
    requests += [("audio/wav", body, {}) for body in _truncations(wav[:2000], rng, 25)]
    requests += [("audio/x-wav", body, {}) for body in _corruptions(wav[:200] + wav[200:4000], rng, 15)]
    requests += [("audio/wav", rng.randbytes(rng.randint(1, 3000)), {}) for _ in range(10)]
    for rate in (1, 999, 767999, 10**6, 2**31 - 1):  # sample rates the server refuses to resample
        header = rate.to_bytes(4, "little") + ((rate * 2) % 2**32).to_bytes(4, "little")  # rate, byte rate
        requests.append(("audio/wav", wav[:24] + header + wav[32:], {}))
    requests.append(("audio/wav", wav_bytes(np.zeros((0, 2), np.int16), 8000), {}))
    requests.append(("audio/wav", wav_bytes(np.full(800, np.nan, np.float32), 8000), {}))
    requests += [("application/x-npy", body, {}) for body in _npy_header_lies(rng, 20)]
    for array in (
        np.zeros((NUM_SAMPLES + 1,), np.float32),
        np.zeros((2, 2, NUM_SAMPLES), np.float32),
        np.zeros((FEATURE_SHAPE[1], FEATURE_SHAPE[0]), np.float32),
        np.zeros((0, NUM_SAMPLES), np.float32),
    ):
        requests.append(("application/x-npy", npy_bytes(array), {}))
    requests += [("application/json", body, {}) for body in _json_bodies(rng, tuple(FEATURE_SHAPE))]
    requests.append(
        ("application/json", json.dumps({"instances": [{"b64": b64(b"RIFF" + rng.randbytes(60))}]}).encode(), {})
    )
    return requests


def _header_requests(good: bytes, content_type: str) -> list[tuple[str | None, bytes, dict[str, str]]]:
    attributes = "X-Amzn-SageMaker-Custom-Attributes"
    return [
        (None, good, {}),
        ("", good, {}),
        ("garbage", good, {}),
        (";;;", good, {}),
        ("image", good, {}),
        ("application/x-npy; foo", good, {}),
        ("application/json", good, {}),
        ("audio/wav", good, {}),
        ("image/png", good, {}),
        ("multipart/form-data; boundary=x", good, {}),
        (content_type, good, {"Accept": "text/csv"}),
        (content_type, good, {"Accept": "application/xml;q=1"}),
        (content_type, good, {"Accept": "application/json;q=0"}),
        (content_type, good, {"Accept": ",,,"}),
        (content_type, good, {attributes: "top_k=-1"}),
        (content_type, good, {attributes: "top_k=" + "9" * 400}),
        (content_type, good, {attributes: "top_k=1.5"}),
        (content_type, good, {attributes: "top_k="}),
        (content_type, good, {attributes: "=;=,=,top_k"}),
        (content_type, good, {attributes: "x" * 4000}),
        (content_type, good, {"Content-Encoding": "gzip"}),
        (content_type, good, {"Expect": "100-continue"}),
    ]


def _fire(server, requests) -> list[tuple[int, str]]:
    def one(request):
        content_type, body, headers = request
        headers = dict(headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        with httpx.Client(timeout=30) as client:
            response = client.post(server.url + "/invocations", content=body, headers=headers)
        return response.status_code, response.text[:300]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, requests))


def _check(server, requests, results) -> None:
    server_errors = [(r[0], res) for r, res in zip(requests, results, strict=True) if res[0] >= 500]
    assert not server_errors, server_errors[:5]
    unexpected = {status for status, _ in results} - CLIENT_ERRORS - {200}
    assert not unexpected, unexpected
    for status, text in results:
        if status != 200:
            document = json.loads(text) if text.startswith("{") else {}
            assert document.get("error") and document.get("message"), text
    server.ping()


def test_malformed_requests_to_the_image_model(cnn_server):
    rng = random.Random(0)
    requests = _image_requests(rng) + _header_requests(png_bytes(random_pixels(10)), "image/png")
    assert len(requests) >= 200
    results = _fire(cnn_server, requests)
    _check(cnn_server, requests, results)
    assert sum(status != 200 for status, _ in results) >= 0.8 * len(requests)


def test_malformed_requests_to_the_audio_model(mlp_server):
    rng = random.Random(1)
    wav = wav_bytes(tone(300, 8000, 1.0), 8000)
    requests = _audio_requests(rng) + _header_requests(wav, "audio/wav")
    assert len(requests) >= 150
    results = _fire(mlp_server, requests)
    _check(mlp_server, requests, results)


def test_raw_protocol_garbage_never_kills_the_server(cnn_server):
    import socket

    payloads = [
        b"GARBAGE\r\n\r\n",
        b"POST /invocations HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nshort",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\n" + b"X-Long: " + b"a" * 100_000 + b"\r\n\r\n",
        b"\x00\x01\x02" * 1000,
    ]
    for payload in payloads:
        with socket.create_connection(("127.0.0.1", cnn_server.port), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            try:
                answer = sock.recv(200)
            except (ConnectionResetError, TimeoutError):
                answer = b""
            assert not answer.startswith(b"HTTP/1.1 5"), answer
    cnn_server.ping()
