"""How the serving benchmark judges a peer's first answer (benchmarks.peers.first_answer), over a loopback
HTTP server that answers what each test puts in it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks import peers


@pytest.fixture
def answering() -> Iterator[dict[str, bytes]]:
    """A local HTTP server whose POST answer is whatever the test puts in `answers["body"]`."""
    answers = {"body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(answers["body"])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answers["url"] = f"http://127.0.0.1:{server.server_address[1]}/predict".encode()
    yield answers
    server.shutdown()
    server.server_close()


def test_a_first_answer_counts_only_with_the_models_predictions(answering: dict[str, bytes]) -> None:
    url = answering["url"].decode()
    answering["body"] = b'{"model": "cnn", "predictions": [{"label": "cat"}]}'
    assert peers.first_answer(url, b"x", "image/png") is None
    answering["body"] = b"<html>Internal Server Error</html>"
    assert "not JSON" in (peers.first_answer(url, b"x", "image/png") or "")
    answering["body"] = b'{"error": "bad"}'
    assert "no predictions" in (peers.first_answer(url, b"x", "image/png") or "")
    assert "failed" in (peers.first_answer("http://127.0.0.1:9/predict", b"x", "image/png", timeout_s=2) or "")


def test_a_batchable_apis_one_item_list_is_its_answer(answering: dict[str, bytes]) -> None:
    answering["body"] = b'[{"model": "cnn", "predictions": [{"label": "cat"}]}]'
    assert peers.first_answer(answering["url"].decode(), b"x", "image/png") is None
