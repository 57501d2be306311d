"""uvicorn's httptools protocol with the limits it lacks: header size and header time.

uvicorn 0.54 bounds neither with httptools (its `h11_max_incomplete_event_size` applies to the h11
parser only; `timeout_keep_alive` is armed only after a response, so a connection that never
finishes its headers is held forever; httptools itself accumulates a header of any size, 128 MiB
took 5-9 s of the event loop and 200 MB). This subclass keeps the fast parser and adds:

- header size: the request line and headers may take `max_header_bytes`. Bytes are counted before
  they reach the parser, and a chunk that would cross the limit is fed only up to it: if the headers
  have not ended by then the request is answered `431 Request Header Fields Too Large` and the
  connection closed (RFC 6585 section 5, https://www.rfc-editor.org/rfc/rfc6585#section-5).
- header time: from a request's first byte, its headers must arrive within `header_timeout_s`, else
  `408 Request Timeout` with `Connection: close` (RFC 9110 section 15.5.9,
  https://www.rfc-editor.org/rfc/rfc9110#section-15.5.9). A connection that sends nothing at all is
  closed silently after `timeout_keep_alive`, as uvicorn closes an idle one between requests.

The body's time is bounded by the request deadline in inference.app (408 when the body has not
arrived by then), the number of connections by uvicorn's `limit_concurrency` (503).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class HeaderLimits:
    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 10.0


def error_response(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection, with the server's JSON error body."""
    body = json.dumps({"error": code, "message": message}).encode()
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
        status,
        REASONS[status],
        len(body),
    )
    return head + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses oversized and overdue headers; built by `protocol_factory`."""

    limits = HeaderLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True  # between requests, or inside a request line and headers
        self._header_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    # -- timers -------------------------------------------------------------------------------------

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _idle(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def _headers_overdue(self) -> None:
        seconds = self.limits.header_timeout_s
        self._refuse(408, "request_timeout", f"the request headers did not arrive within {seconds:g} s")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        log.info("%s:%s -> %d %s", *(self.client or ("?", "?")), status, message)
        self.transport.write(error_response(status, code, message))
        self.transport.close()

    # -- protocol -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        self._arm(self.timeout_keep_alive, self._idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_headers or self.parser is None:
            super().data_received(data)
            return
        room = self.limits.max_header_bytes - self._header_bytes
        if len(data) <= room:
            self._header_bytes += len(data)
            super().data_received(data)
            return
        # Feed only what the limit allows: the parser never holds more than max_header_bytes of headers.
        super().data_received(data[:room])
        self._header_bytes += room
        if self._in_headers:
            self._refuse(
                431, "header_too_large", f"the request line and headers exceed {self.limits.max_header_bytes} bytes"
            )
        elif self.parser is not None and not self.transport.is_closing():
            super().data_received(data[room:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._arm(self.limits.header_timeout_s, self._headers_overdue)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_headers = True  # what follows is the next request's
        self._header_bytes = 0


def protocol_class(limits: HeaderLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class uvicorn's `http` setting takes, with these limits (a subclass per setting)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


_from_environment: type[LimitedHttpToolsProtocol] | None = None


def from_environment(**kwargs: Any) -> LimitedHttpToolsProtocol:
    """The protocol factory worker processes name by string (`http="inference.protocol:from_environment"`):
    a class built in the parent would not survive the pickling that starts them; the limits arrive
    through the environment like the other settings."""
    global _from_environment
    if _from_environment is None:
        from inference.settings import ServeSettings

        settings = ServeSettings.from_env()
        _from_environment = protocol_class(HeaderLimits(settings.max_header_bytes, settings.header_timeout_s))
    return _from_environment(**kwargs)
