"""The stages of one request, in the order the server runs them: check the headers, read the body,
decode it, predict, encode the answer; and the one deadline that bounds them.

The shape is the sagemaker-inference-toolkit's `Transformer.transform` (input -> predict -> output,
one error handler; https://github.com/aws/sagemaker-inference-toolkit, transformer.py), written as
plain async functions: inference.app composes them into the routes, and every stage reports a
client's mistake by raising a `RequestError` that inference.http_errors answers. Nothing here holds
state; what a stage needs (the manifest, the batcher, the decode threads) is passed in.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any

import anyio
import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from inference.artifact import Manifest
from inference.batching import MicroBatcher
from inference.decoding import Part, decode, decodes_inline
from inference.errors import BadRequest, NotAcceptable, PayloadTooLarge, RequestError, RequestTimeout, WrongShape

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
DEFAULT_TOP_K = 5
JSON_TYPES = {"application/json", "application/*", "*/*"}


# --- headers ------------------------------------------------------------------------------------


def check_accept(accept: str | None) -> None:
    if not accept or not accept.strip():
        return
    for item in accept.split(","):
        kind, _, params = item.partition(";")
        if kind.strip().lower() in JSON_TYPES and not re.search(r"q\s*=\s*0(\.0*)?\s*($|;)", params):
            return
    raise NotAcceptable(f"Accept {accept[:100]!r} excludes application/json, the only response type")


def parse_top_k(header: str | None) -> int:
    """`top_k=N` from SageMaker's custom attributes (`key=value` pairs separated by `;` or `,`)."""
    if not header:
        return DEFAULT_TOP_K
    for item in re.split(r"[;,]", header):
        key, _, value = item.partition("=")
        if key.strip().lower().replace("-", "_") == "top_k":
            value = value.strip()
            if not value.isdigit() or not 1 <= int(value) <= 100_000:
                raise BadRequest(f"top_k must be a positive integer, found {value[:50]!r}")
            return int(value)
    return DEFAULT_TOP_K


# --- read ---------------------------------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as Content-Length or the bytes received pass `limit`. Once
    it is read in full, `body_was_read(request)` is true: a deadline after that is the server's (503),
    before it the client's (408), and an error answer may keep the connection open."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    request.state.body_read = True
    return b"".join(chunks)


def body_was_read(request: Request) -> bool:
    return getattr(request.state, "body_read", False)


# --- the deadline -------------------------------------------------------------------------------


class Deadline:
    """`asyncio.timeout(seconds)` over a request's stages, from its headers to its answer. Its expiry
    (or a TimeoutError from inside) is answered 408 while the body has not arrived in full, and with
    `late(seconds)` once it has (a 503 in the caller's words: what was not ready, what to do)."""

    __slots__ = ("_late", "_request", "_seconds", "_timeout")

    def __init__(self, request: Request, seconds: float, late: Callable[[float], RequestError]) -> None:
        self._request = request
        self._seconds = seconds
        self._late = late
        self._timeout = asyncio.timeout(seconds)

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            await self._timeout.__aexit__(kind, error, traceback)
        except TimeoutError:
            pass  # this deadline expired
        else:
            if kind is None or not issubclass(kind, TimeoutError):
                return  # finished in time, or another error: it propagates as it is
        if not body_was_read(self._request):
            raise RequestTimeout(f"the request body did not arrive within {self._seconds:g} s") from None
        raise self._late(self._seconds) from None


# --- decode -------------------------------------------------------------------------------------


async def decode_body(
    body: bytes,
    content_type: str | None,
    manifest: Manifest,
    max_rows: int,
    inline_bytes: int,
    decoders: anyio.CapacityLimiter | None,
) -> list[Part]:
    """The body's model inputs. One small PNG/JPEG/WAV whose header promises a cheap decode (at most
    `inline_bytes`; inference.decoding.decodes_inline) is decoded here, on the event loop: the two
    thread hops would cost more than its decode. Anything else decodes on a thread, at most as many
    at once as `decoders` allows: decoding cost grows with what a body claims, not with its size."""
    if decodes_inline(body, content_type, manifest, inline_bytes):
        return decode(body, content_type, manifest, max_rows)
    # abandon_on_cancel: a deadline answers at once; the thread finishes its (row-capped) decode
    return await anyio.to_thread.run_sync(
        decode, body, content_type, manifest, max_rows, limiter=decoders, abandon_on_cancel=True
    )


# --- predict ------------------------------------------------------------------------------------


async def predict(batcher: MicroBatcher, parts: list[Part]) -> np.ndarray:
    """One request's parts, queued under one request token (the batcher takes turns between requests)."""
    if len(parts) == 1:  # the common case: no task per part (gather wraps each coroutine in one)
        return await batcher.predict(parts[0].entry, parts[0].array)
    request = object()
    results = await asyncio.gather(*(batcher.predict(part.entry, part.array, request) for part in parts))
    return np.concatenate(results) if len(results) > 1 else results[0]


def check_finite(probabilities: np.ndarray) -> None:
    if not np.isfinite(probabilities).all():
        raise WrongShape("the model returned non-finite probabilities for these values; are they in range?")


# --- encode -------------------------------------------------------------------------------------


def encode(probabilities: np.ndarray, manifest: Manifest, top_k: int) -> list[dict[str, Any]]:
    """One prediction per row (docs/contracts.md): label, index, probability, probabilities, top_k."""
    names = manifest.class_names
    k = min(top_k, len(names))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    predictions = []
    for row, ranked in zip(probabilities.tolist(), order.tolist(), strict=True):
        best = ranked[0]
        predictions.append(
            {
                "label": names[best],
                "index": best,
                "probability": row[best],
                "probabilities": row,
                "top_k": [{"label": names[i], "index": i, "probability": row[i]} for i in ranked],
            }
        )
    return predictions


def json_bytes(document: dict[str, Any]) -> bytes:
    """The answer's JSON (no NaN or infinity: strict JSON parsers refuse them)."""
    return json.dumps(document, allow_nan=False).encode()


def json_answer(answer: bytes) -> Response:
    return Response(answer, media_type="application/json")
