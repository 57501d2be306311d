"""The HTTP application: SageMaker's serving contract on Starlette (run by uvicorn, inference.server).

Routes:
- `GET /ping`: 200 once the model is loaded (it loads before the server accepts connections), with
  this worker's count of forward passes and rows (their ratio is the mean batch size).
- `POST /invocations` and `POST /endpoints/{name}/invocations` (the SageMaker runtime path, so
  boto3 `sagemaker-runtime` with `endpoint_url` reaches a local server through its own code path).
- `GET /execution-parameters`: what SageMaker batch transform asks for.

A request passes four stages, each a small function: read (payload limit), decode (inference.decoding),
predict (inference.batching, one model thread) and encode (below). The answer is
`{"model": name, "predictions": [...]}` with one prediction per input:
`{"label", "index", "probability", "probabilities": [one per class], "top_k": [{"label", "index",
"probability"}, ...]}`; `top_k` (default 5) comes from the header
`X-Amzn-SageMaker-Custom-Attributes: top_k=3` (other attributes are ignored).

With `explain=<method>` in the same header, each prediction gains an `explanation` (inference.explain),
computed outside the micro-batcher under its own limits (inference.explain_serving): 429 with
`Retry-After` when every explanation slot is busy, 400 `explanation_unavailable` for an artifact
without an explanation path, and `Accept: image/png` answers the CNN's heatmap overlay.

Errors are JSON `{"error": code, "message": text}`: 400 unreadable body or header, 406 an Accept that
excludes application/json, 408 a body that has not arrived within the request deadline, 413 a body
over `SAGEMAKER_MAX_PAYLOAD_IN_MB` (checked on Content-Length and again while streaming, so an
oversized body is never buffered) or more inputs than `max_rows_per_request`, 415 a content type the
model does not take, 422 readable input of the wrong shape, 503 an answer not ready within the
request deadline (`request_deadline_s`, shorter than the drain after SIGTERM). Anything else is a
500 and a bug. A client that leaves mid-request costs one INFO line.

Bodies are decoded in worker threads (a few at a time), off the event loop: decoding cost grows with
what a body claims (thousands of one-pixel instances in 47 KiB), not with its size. The exception is
the common small one, a single PNG/JPEG or WAV of at most `inline_decode_bytes` whose header promises
a cheap decode (inference.decoding.decodes_inline): it is decoded on the loop, because the two
thread hops cost more than its decode (at concurrency 1 the MLP answered 218 instead of ~700
requests/s; benchmarks/results/serve_regression.md).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inference.artifact import Manifest, load_manifest
from inference.batching import MicroBatcher
from inference.capture import INFERENCE_ID_HEADER, CaptureWriter, start_capture
from inference.decoding import Part, check_content_type, decode, decodes_inline
from inference.errors import (
    BadRequest,
    DeadlineExceeded,
    NotAcceptable,
    PayloadTooLarge,
    RequestError,
    RequestTimeout,
    WrongShape,
)
from inference.explain import (
    Cancelled,
    Explainer,
    ExplainRequest,
    ExplanationUnavailable,
    encode_explanations,
    load_explainer,
    parse_explain,
)
from inference.explain_serving import ExplanationGate, overlay_png, wants_png
from inference.models import Predictor, load_predictor
from inference.settings import ServeSettings, cpu_count

log = logging.getLogger(__name__)

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
DEFAULT_TOP_K = 5
JSON_TYPES = {"application/json", "application/*", "*/*"}
SHUTDOWN_JOIN_S = 2.0


# --- read ---------------------------------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as Content-Length or the bytes received pass `limit`."""
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
    return b"".join(chunks)


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


# --- encode -------------------------------------------------------------------------------------


def encode(probabilities: np.ndarray, manifest: Manifest, top_k: int) -> list[dict[str, Any]]:
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


# --- application --------------------------------------------------------------------------------


class Model:
    """What the application serves: the manifest, the predictor and its batcher."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.manifest: Manifest | None = None
        self.batcher: MicroBatcher | None = None
        self.decoders: anyio.CapacityLimiter | None = None
        self.explainer: Explainer | None = None
        self.gate = ExplanationGate(settings.max_concurrent_explanations)
        self.capture: CaptureWriter | None = None

    def load(self) -> None:
        """Load the model, its explainer and its decoder, and log how long each took: the model-load
        part of a cold start (benchmarks/coldstart_bench.py reads the line)."""
        started = time.perf_counter()
        manifest = load_manifest(self.settings.model_dir)
        if not manifest.is_image:
            import inference.audio  # noqa: F401 - scipy's WAV decoding, now rather than on the first request
        predictor: Predictor = load_predictor(manifest, self.settings.threads)
        loaded = time.perf_counter()
        self.batcher = MicroBatcher(
            predictor,
            self.settings.max_batch_size,
            self.settings.max_batch_delay_ms / 1000,
            self.settings.adaptive_batch_wait_ms / 1000,
        )
        self.batcher.start()
        self.explainer = load_explainer(manifest)
        self.capture = start_capture(self.settings.model_dir)  # None unless INFERENCE_CAPTURE_DIR
        self.manifest = manifest
        done = time.perf_counter()
        log.info(
            "model loaded in %.2f s (framework import, model and warm-up %.2f s; explanation path %.2f s)",
            done - started,
            loaded - started,
            done - loaded,
        )

    def close(self) -> None:
        # By now every request has ended (each has a deadline shorter than the drain) and the model
        # thread has at most one forward pass of max_batch_size rows left; it is a daemon thread, so a
        # short wait keeps the exit inside SageMaker's 30 s whatever it is doing.
        if self.batcher is not None:
            self.batcher.stop(timeout=SHUTDOWN_JOIN_S)
        self.gate.close()
        if self.capture is not None:
            self.capture.close()


def freeze_loaded_objects() -> int:
    """Move every object alive now (the framework, the model, the server's modules: ~380,000 once
    TensorFlow or torch is loaded) out of the garbage collector's sight; returns how many.

    A full collection walks all of them: ~185 ms on the 2-vCPU instance under load, on the event loop
    thread, once every few thousand requests under load, which is the p99 at concurrency 64.
    They live as long as the process, so the collector has nothing to find there; objects made later
    are collected as usual."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def create_app(settings: ServeSettings | None = None) -> Starlette:
    settings = settings or ServeSettings.from_env()
    model = Model(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        model.load()
        freeze_loaded_objects()
        # Big bodies decode in threads; a few at a time bounds the memory decoded images take.
        model.decoders = anyio.CapacityLimiter(max(2, cpu_count()))
        yield
        model.close()

    async def ping(request: Request) -> Response:
        if model.manifest is None or model.batcher is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "model": model.manifest.name,
                "forward_passes": model.batcher.batches,
                "rows": model.batcher.rows,
            }
        )

    async def execution_parameters(request: Request) -> Response:
        return JSONResponse(
            {
                "MaxConcurrentTransforms": settings.workers,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": int(settings.max_payload_mb),
            }
        )

    async def invocations(request: Request) -> Response:
        manifest, batcher = model.manifest, model.batcher
        if manifest is None or batcher is None:
            return JSONResponse({"error": "loading", "message": "the model is loading"}, status_code=503)
        top_k = parse_top_k(request.headers.get(CUSTOM_ATTRIBUTES))
        explain = parse_explain(request.headers.get(CUSTOM_ATTRIBUTES), manifest.class_names)
        if explain is not None:
            return await explanation(request, manifest, explain, top_k)
        check_accept(request.headers.get("accept"))
        content_type = request.headers.get("content-type")
        check_content_type(content_type, manifest)
        deadline = settings.request_deadline_s
        try:
            async with asyncio.timeout(deadline):
                body = await read_body(request, settings.max_payload_bytes)
                request.state.body_read = True
                if decodes_inline(body, content_type, manifest, settings.inline_decode_bytes):
                    parts = decode(body, content_type, manifest, settings.max_rows_per_request)
                else:
                    # abandon_on_cancel: a deadline answers at once; the thread finishes its (row-capped) decode
                    parts = await anyio.to_thread.run_sync(
                        decode, body, content_type, manifest, settings.max_rows_per_request,
                        limiter=model.decoders, abandon_on_cancel=True,
                    )  # fmt: skip
                probabilities = await predict(batcher, parts)
        except TimeoutError:
            if not getattr(request.state, "body_read", False):
                raise RequestTimeout(f"the request body did not arrive within {deadline:g} s") from None
            raise DeadlineExceeded(
                f"the answer was not ready within the request deadline of {deadline:g} s (server busy or "
                "shutting down); retry, or send fewer inputs per request"
            ) from None
        if not np.isfinite(probabilities).all():
            raise WrongShape("the model returned non-finite probabilities for these values; are they in range?")
        document = {"model": manifest.name, "predictions": encode(probabilities, manifest, top_k)}
        answer = json.dumps(document, allow_nan=False).encode()
        if model.capture is not None:  # a queue put: sampling and writing are off the request path
            model.capture.offer(body, content_type or "", answer, request.headers.get(INFERENCE_ID_HEADER))
        return Response(answer, media_type="application/json")

    async def explanation(request: Request, manifest: Manifest, explain: ExplainRequest, top_k: int) -> Response:
        """An explanation request: never in a prediction batch; its own slots, deadline and row cap."""
        explainer = model.explainer
        if explainer is None:
            raise ExplanationUnavailable(
                "this model artifact has no explanation path (manifest.json has no 'explanation'); "
                "predictions still work, or re-export it with the current training image"
            )
        png = wants_png(request.headers.get("accept"))
        if png and not manifest.is_image:
            raise NotAcceptable("Accept image/png (a heatmap overlay) is for image models; use application/json")
        if not png:
            check_accept(request.headers.get("accept"))
        content_type = request.headers.get("content-type")
        check_content_type(content_type, manifest)
        model.gate.acquire()  # 429 now, before the body is read, when every slot is busy
        handed_over = False
        deadline = settings.explain_deadline_s
        try:
            async with asyncio.timeout(deadline):
                body = await read_body(request, settings.max_payload_bytes)
                request.state.body_read = True
                parts = await anyio.to_thread.run_sync(
                    decode, body, content_type, manifest, settings.max_explain_rows,
                    limiter=model.decoders, abandon_on_cancel=True,
                )  # fmt: skip
                if png and sum(len(part.array) for part in parts) != 1:
                    raise BadRequest("Accept image/png answers one input per request; use JSON for several")
                handed_over = True
                results = await model.gate.run(explain_parts, explainer, parts, explain)
        except TimeoutError:
            if not getattr(request.state, "body_read", False):
                raise RequestTimeout(f"the request body did not arrive within {deadline:g} s") from None
            raise DeadlineExceeded(
                f"the explanation was not ready within {deadline:g} s (INFERENCE_EXPLAIN_DEADLINE_S); send fewer "
                "inputs, fewer steps, or use explain=gradient_x_input"
            ) from None
        except Cancelled:
            raise DeadlineExceeded(f"the explanation was stopped at its deadline of {deadline:g} s") from None
        finally:
            if not handed_over:
                model.gate.release()
        if png:
            return Response(overlay_png(results[0].inputs[0], results[0].attributions[0]), media_type="image/png")
        predictions = []
        for part, explained in zip(parts, results, strict=True):
            encoded = encode(explained.probabilities, manifest, top_k)
            for prediction, item in zip(encoded, encode_explanations(explained, manifest, part.entry), strict=True):
                prediction["explanation"] = item
            predictions.extend(encoded)
        document = {"model": manifest.name, "explanation": explainer.describe(explain), "predictions": predictions}
        return Response(json.dumps(document, allow_nan=False), media_type="application/json")

    async def request_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestError)
        log.info("%s %s -> %d %s", request.method, request.url.path, error.status, error.message)
        headers = None if getattr(request.state, "body_read", False) else {"connection": "close"}
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

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/execution-parameters", execution_parameters, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/endpoints/{name}/invocations", invocations, methods=["POST"]),
        ],
        exception_handlers={
            RequestError: request_error,
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            Exception: server_error,
        },
        lifespan=lifespan,
    )


async def predict(batcher: MicroBatcher, parts: list[Part]) -> np.ndarray:
    """One request's parts, queued under one request token (the batcher takes turns between requests)."""
    if len(parts) == 1:  # the common case: no task per part (gather wraps each coroutine in one)
        return await batcher.predict(parts[0].entry, parts[0].array)
    request = object()
    results = await asyncio.gather(*(batcher.predict(part.entry, part.array, request) for part in parts))
    return np.concatenate(results) if len(results) > 1 else results[0]


def explain_parts(explainer: Explainer, parts: list[Part], explain: ExplainRequest, cancel: Any) -> list[Any]:
    """All of a request's parts on one explanation thread, in one slot."""
    return [explainer(part.entry, part.array, explain, cancel) for part in parts]


def app_from_environment() -> Starlette:
    """The factory uvicorn's worker processes call (settings arrive through the environment)."""
    return create_app(ServeSettings.from_env())
