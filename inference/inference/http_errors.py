"""The one error mapping: what the server answers for each exception a request's stages raise.

- `RequestError` (inference.errors and its subclasses elsewhere): its status, and JSON
  `{"error": code, "message": text}` plus any `body_extra`, with any `headers` it carries. A request
  refused before its body was read in full is answered with `Connection: close` (the rest of the body
  is still on the connection).
- Starlette's `HTTPException` (404, 405 from the router): JSON `{"error": "http_error", ...}`.
- `ClientDisconnect`: one INFO line and a 499 nobody reads.
- Anything else: a 500 with the exception's type and message, and the traceback in the log: a bug.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from inference.errors import RequestError
from inference.stages import body_was_read

log = logging.getLogger(__name__)


async def request_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestError)
    log.info("%s %s -> %d %s", request.method, request.url.path, error.status, error.message)
    headers = None if body_was_read(request) else {"connection": "close"}
    extra = getattr(error, "headers", None)
    if extra:
        headers = {**(headers or {}), **extra}
    body = {"error": error.code, "message": error.message, **getattr(error, "body_extra", {})}
    return JSONResponse(body, status_code=error.status, headers=headers)


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSONResponse(
        {"error": "http_error", "message": str(error.detail)},
        status_code=error.status_code,
        headers=error.headers,
    )


async def client_gone(request: Request, error: Exception) -> Response:
    log.info("%s %s: the client disconnected before its request was read", request.method, request.url.path)
    return Response(status_code=499)  # nobody reads it; nginx's code for a client that closed


async def server_error(request: Request, error: Exception) -> Response:
    log.error("internal error on %s", request.url.path, exc_info=error)
    return JSONResponse({"error": "internal_error", "message": f"{type(error).__name__}: {error}"}, status_code=500)


EXCEPTION_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    RequestError: request_error,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
    Exception: server_error,
}
