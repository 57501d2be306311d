"""`python -m inference.client` against a real local server (boto3 with endpoint_url), and its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from inference import client as cli
from tests.helpers.inference_fixtures import IMAGE_CLASSES, npy_bytes, png_bytes, random_pixels
from tests.helpers.no_aws import without_aws


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch, tmp_path):
    without_aws(monkeypatch, tmp_path)


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "inputs"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.png").write_bytes(png_bytes(random_pixels(1)))
    (folder / "nested" / "b.jpg").write_bytes(png_bytes(random_pixels(2), "JPEG"))
    (folder / "c.npy").write_bytes(npy_bytes(np.stack([random_pixels(3), random_pixels(4)])))
    (folder / "notes.txt").write_text("not an input")
    return folder


def test_folder_prints_a_top_k_table(cnn_server, images, capsys):
    code = cli.main(["--url", cnn_server.url, "--top-k", "2", str(images)])
    out = capsys.readouterr().out
    assert code == cli.EXIT_OK, out
    lines = out.strip().splitlines()
    assert lines[0].split() == ["input", "rank", "label", "probability"]
    assert len(lines) == 1 + 4 * 2  # a.png, b.jpg, c.npy[0], c.npy[1]; two ranks each
    assert "c.npy[1]" in out and "notes.txt" not in out
    assert all(line.split()[-2] in IMAGE_CLASSES for line in lines[1:])


def test_json_output_matches_the_server(cnn_server, images, capsys):
    code = cli.main(["--url", cnn_server.url, "--json", "--top-k", "3", str(images / "a.png")])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document[0]["file"].endswith("a.png")
    prediction = document[0]["predictions"][0]
    assert len(prediction["top_k"]) == 3
    direct = cli.EndpointClient("any-name", url=cnn_server.url).invoke((images / "a.png").read_bytes(), "image/png", 3)
    assert direct["predictions"][0] == prediction


def test_python_api_predict_file(cnn_server, images):
    client = cli.EndpointClient(url=cnn_server.url)
    predictions = client.predict_file(images / "c.npy", top_k=1)
    assert len(predictions) == 2 and all(len(p["top_k"]) == 1 for p in predictions)
    with pytest.raises(cli.InvocationError) as raised:
        client.invoke(b"junk", "image/png")
    assert raised.value.status == 400


def test_exit_codes(cnn_server, images, tmp_path, capsys):
    big = tmp_path / "big.npy"
    big.write_bytes(b"\0" * (6 * 1024 * 1024 + 1))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    url = ["--url", cnn_server.url]
    assert cli.main([*url, str(big), str(images / "a.png")]) == cli.EXIT_REFUSED
    assert cli.main([*url, str(bad), str(big)]) == cli.EXIT_ENDPOINT_ERROR
    assert cli.main([*url, str(tmp_path / "missing.png")]) == cli.EXIT_USAGE
    assert cli.main([*url, str(images / "notes.txt")]) == cli.EXIT_REFUSED
    assert cli.main([str(images)]) == cli.EXIT_USAGE  # neither --endpoint nor --url
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main([*url, str(empty)]) == cli.EXIT_USAGE
    assert cli.main(["--url", "http://127.0.0.1:9", "--retries", "1", str(images / "a.png")]) == cli.EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert "over the" in err and "big.npy" in err


def test_oversized_file_is_refused_before_anything_is_sent(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (6 * 1024 * 1024 + 1))
    # nothing listens on port 9: had the client tried to send, it would report the endpoint unreachable
    client = cli.EndpointClient(url="http://127.0.0.1:9", retries=1)
    with pytest.raises(cli.InputRefused, match="payload limit"):
        client.predict_file(big)


class _Flaky(BaseHTTPRequestHandler):
    """503, then 429, then a valid answer: a client that retries gets through."""

    calls = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        if type(self).calls <= 2:
            status = 503 if type(self).calls == 1 else 429
            body = json.dumps({"message": "busy"}).encode()
        else:
            status = 200
            prediction = {
                "label": "cat",
                "index": 0,
                "probability": 1.0,
                "probabilities": [1.0],
                "top_k": [{"label": "cat", "index": 0, "probability": 1.0}],
            }
            body = json.dumps({"model": "stub", "predictions": [prediction]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_throttling_and_5xx_are_retried(images):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        predictions = cli.EndpointClient(url=url, retries=5).predict_file(images / "a.png")
        assert predictions[0]["label"] == "cat"
        assert _Flaky.calls == 3
        _Flaky.calls = 0
        with pytest.raises(cli.InvocationError) as raised:  # one retry only: the 429 is the last word
            cli.EndpointClient(url=url, retries=1).predict_file(images / "a.png")
        assert raised.value.status == 429
        assert _Flaky.calls == 2
    finally:
        server.shutdown()


def test_command_line_program(cnn_server, images):
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    command = [sys.executable, "-m", "inference.client", "--url", cnn_server.url]
    ok = subprocess.run([*command, str(images / "a.png")], capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "a.png" in ok.stdout
    refused = subprocess.run([*command, str(images / "notes.txt")], capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 3
    assert "unknown file type" in refused.stderr
