"""The httptools protocol's header limits, driven byte by byte without a socket."""

from __future__ import annotations

import asyncio
import json

import pytest
from inference.protocol import HeaderLimits, protocol_class
from inference.server import _common, _http
from inference.settings import ServeSettings
from uvicorn.config import Config
from uvicorn.server import ServerState


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope, receive, send):  # pragma: no cover - never reached by these requests
    raise AssertionError("the request should not reach the application")


@pytest.fixture
def connection():
    loop = asyncio.new_event_loop()
    config = Config(_app, http="httptools", timeout_keep_alive=65)
    config.load()
    protocol = protocol_class(HeaderLimits(max_header_bytes=4096, header_timeout_s=10))(
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    transport = Transport()
    protocol.connection_made(transport)
    yield protocol, transport
    protocol.connection_lost(None)
    tasks = list(protocol.tasks)  # a request that reached the app: cancelled before it starts
    for task in tasks:
        task.cancel()
        loop.run_until_complete(asyncio.wait([task]))
    loop.close()


def _answer(transport: Transport) -> tuple[bytes, dict]:
    head, _, body = transport.written.partition(b"\r\n\r\n")
    return head, json.loads(body)


def test_headers_beyond_the_limit_are_431_and_the_parser_never_sees_them(connection):
    protocol, transport = connection
    protocol.data_received(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: ")
    for _ in range(2000):  # 128 MiB in 64 KiB reads would go on; the first read past the limit ends it
        if transport.closed:
            break
        protocol.data_received(b"a" * 65536)
    head, body = _answer(transport)
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large") and b"connection: close" in head
    assert body["error"] == "header_too_large" and "4096 bytes" in body["message"]
    assert transport.closed and protocol._header_bytes == 4096


def test_headers_that_stop_arriving_are_408_and_a_silent_connection_is_closed_without_one(connection):
    protocol, transport = connection
    assert protocol._deadline is not None  # the idle timer: keep-alive's, from the first byte on
    protocol.data_received(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
    assert protocol._deadline is not None and not transport.closed
    protocol._deadline._run()  # the header timer fires
    head, body = _answer(transport)
    assert head.startswith(b"HTTP/1.1 408 Request Timeout") and body["error"] == "request_timeout"


def test_a_request_whose_headers_end_within_the_limit_goes_on_with_its_body(connection):
    protocol, transport = connection
    big_body_start = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"\x00" * 60000
    protocol.data_received(big_body_start)  # one read: headers and more body than the header limit
    assert not transport.closed and transport.written == b""
    assert protocol._deadline is None  # no header timer once the headers are in (the deadline is the app's)


def test_the_server_passes_every_limit_to_uvicorn():
    settings = ServeSettings.from_env({"INFERENCE_MAX_CONNECTIONS": "77", "INFERENCE_MAX_HEADER_BYTES": "2048"})
    common = _common(settings)
    assert common["limit_concurrency"] == 77 and common["h11_max_incomplete_event_size"] == 2048
    assert _http(settings, workers=True) == "inference.protocol:from_environment"
    assert _http(settings, workers=False).limits == HeaderLimits(2048, 10.0)
