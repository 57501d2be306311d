"""The HTTP application: SageMaker's serving contract on Starlette (run by uvicorn, inference.server).

Routes:
- `GET /ping`: 200 once the served program is loaded (it loads before the server accepts
  connections), with this worker's count of forward passes and rows (their ratio is the mean batch
  size) and the explanation path's state (`loading`, `ready`, `failed`, or `none`: it loads after
  `/ping` answers, inference.explain_serving).
- `POST /invocations` and `POST /endpoints/{name}/invocations` (the SageMaker runtime path, so
  boto3 `sagemaker-runtime` with `endpoint_url` reaches a local server through its own code path).
- `GET /execution-parameters`: what SageMaker batch transform asks for.

A request passes four stages, each a small function of inference.stages: read (payload limit),
decode (inference.decoding), predict (inference.batching, one model thread) and encode, all within one
deadline (`stages.Deadline`); inference.http_errors maps every error to its answer, and
inference.served holds the model and its start and stop. The answer is
`{"model": name, "predictions": [...]}` with one prediction per input:
`{"label", "index", "probability", "probabilities": [one per class], "top_k": [{"label", "index",
"probability"}, ...]}`; `top_k` (default 5) comes from the header
`X-Amzn-SageMaker-Custom-Attributes: top_k=3` (other attributes are ignored).

With `explain=<method>` in the same header, each prediction gains an `explanation` (inference.explain),
computed outside the micro-batcher under its own limits (inference.explain_serving): 429 with
`Retry-After` when every explanation slot is busy, 400 `explanation_unavailable` for an artifact
without an explanation path, 503 `explanation_loading` with `Retry-After` when the path was still
loading at the request's deadline, and `Accept: image/png` answers the CNN's heatmap overlay.

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

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inference.artifact import Manifest
from inference.capture import INFERENCE_ID_HEADER
from inference.decoding import Part, check_content_type
from inference.errors import BadRequest, DeadlineExceeded, NotAcceptable, RequestError
from inference.explain import (
    Cancelled,
    Explainer,
    ExplainRequest,
    ExplanationUnavailable,
    encode_explanations,
    parse_explain,
)
from inference.explain_serving import ExplanationLoading, overlay_png, wants_png
from inference.http_errors import EXCEPTION_HANDLERS
from inference.served import ServedModel, freeze_loaded_objects
from inference.settings import ServeSettings
from inference.stages import (
    CUSTOM_ATTRIBUTES,
    Deadline,
    check_accept,
    check_finite,
    decode_body,
    encode,
    json_answer,
    json_bytes,
    parse_top_k,
    predict,
    read_body,
)

# The stages' names, importable from here as before (tests, benchmarks/litserve_app.py).
__all__ = ["check_accept", "create_app", "encode", "freeze_loaded_objects", "parse_top_k", "predict"]


def _prediction_late(seconds: float) -> RequestError:
    return DeadlineExceeded(
        f"the answer was not ready within the request deadline of {seconds:g} s (server busy or shutting down); "
        "retry, or send fewer inputs per request"
    )


def _explanation_late(seconds: float) -> RequestError:
    return DeadlineExceeded(
        f"the explanation was not ready within {seconds:g} s (INFERENCE_EXPLAIN_DEADLINE_S); send fewer inputs, "
        "fewer steps, or use explain=gradient_x_input"
    )


class Routes:
    """The endpoints, each a method over the served model and the settings."""

    def __init__(self, served: ServedModel, settings: ServeSettings) -> None:
        self.served = served
        self.settings = settings

    async def ping(self, request: Request) -> Response:
        if self.served.manifest is None or self.served.batcher is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        if not self.served.healthy:
            return JSONResponse({"status": "failed", "message": "the model process has exited"}, status_code=503)
        return JSONResponse(self.served.status())

    async def execution_parameters(self, request: Request) -> Response:
        return JSONResponse(
            {
                "MaxConcurrentTransforms": self.settings.workers,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": int(self.settings.max_payload_mb),
            }
        )

    async def invocations(self, request: Request) -> Response:
        """A prediction, or an explanation when the custom attributes ask for one."""
        served, settings = self.served, self.settings
        manifest, batcher = served.manifest, served.batcher
        if manifest is None or batcher is None:
            return JSONResponse({"error": "loading", "message": "the model is loading"}, status_code=503)
        top_k = parse_top_k(request.headers.get(CUSTOM_ATTRIBUTES))
        explain = parse_explain(request.headers.get(CUSTOM_ATTRIBUTES), manifest.class_names)
        if explain is not None:
            return await self.explanation(request, manifest, explain, top_k)
        check_accept(request.headers.get("accept"))
        content_type = request.headers.get("content-type")
        check_content_type(content_type, manifest)
        async with Deadline(request, settings.request_deadline_s, _prediction_late):
            body = await read_body(request, settings.max_payload_bytes)
            parts = await decode_body(
                body, content_type, manifest, settings.max_rows_per_request, settings.inline_decode_bytes,
                served.decoders,
            )  # fmt: skip
            probabilities = await predict(batcher, parts)
        check_finite(probabilities)
        answer = json_bytes({"model": manifest.name, "predictions": encode(probabilities, manifest, top_k)})
        if served.capture is not None:  # a queue put: sampling and writing are off the request path
            served.capture.offer(body, content_type or "", answer, request.headers.get(INFERENCE_ID_HEADER))
        return json_answer(answer)

    async def explanation(self, request: Request, manifest: Manifest, explain: ExplainRequest, top_k: int) -> Response:
        """An explanation request: never in a prediction batch; its own slots, deadline and row cap."""
        served, settings = self.served, self.settings
        explanations = served.explanations
        if explanations is None:
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
        served.gate.acquire()  # 429 now, before the body is read, when every slot is busy

        def late(seconds: float) -> RequestError:
            if not explanations.loaded:
                return ExplanationLoading(
                    f"the explanation path was still loading after {seconds:g} s (it loads after the model, "
                    "in the background); predictions work, retry the explanation shortly"
                )
            return _explanation_late(seconds)

        handed_over = False
        try:
            async with Deadline(request, settings.explain_deadline_s, late):
                body = await read_body(request, settings.max_payload_bytes)
                parts = await decode_body(body, content_type, manifest, settings.max_explain_rows, 0, served.decoders)
                if png and sum(len(part.array) for part in parts) != 1:
                    raise BadRequest("Accept image/png answers one input per request; use JSON for several")
                explainer = await explanations.get()
                handed_over = True
                results = await served.gate.run(explain_parts, explainer, parts, explain)
        except Cancelled:
            raise DeadlineExceeded(
                f"the explanation was stopped at its deadline of {settings.explain_deadline_s:g} s"
            ) from None
        finally:
            if not handed_over:
                served.gate.release()
        if png:
            return Response(overlay_png(results[0].inputs[0], results[0].attributions[0]), media_type="image/png")
        return json_answer(json_bytes(explanation_document(explainer, manifest, explain, parts, results, top_k)))


def explain_parts(explainer: Explainer, parts: list[Part], explain: ExplainRequest, cancel: Any) -> list[Any]:
    """All of a request's parts on one explanation thread, in one slot."""
    return [explainer(part.entry, part.array, explain, cancel) for part in parts]


def explanation_document(
    explainer: Explainer, manifest: Manifest, explain: ExplainRequest, parts: list[Part], results: list[Any], top_k: int
) -> dict[str, Any]:
    """The explanation's encode stage: the prediction document, an `explanation` in each prediction."""
    predictions = []
    for part, explained in zip(parts, results, strict=True):
        encoded = encode(explained.probabilities, manifest, top_k)
        for prediction, item in zip(encoded, encode_explanations(explained, manifest, part.entry), strict=True):
            prediction["explanation"] = item
        predictions.extend(encoded)
    return {"model": manifest.name, "explanation": explainer.describe(explain), "predictions": predictions}


def create_app(settings: ServeSettings | None = None) -> Starlette:
    settings = settings or ServeSettings.from_env()
    served = ServedModel(settings)
    routes = Routes(served, settings)
    return Starlette(
        routes=[
            Route("/ping", routes.ping, methods=["GET"]),
            Route("/execution-parameters", routes.execution_parameters, methods=["GET"]),
            Route("/invocations", routes.invocations, methods=["POST"]),
            Route("/endpoints/{name}/invocations", routes.invocations, methods=["POST"]),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=served.lifespan,
    )


def app_from_environment() -> Starlette:
    """The factory uvicorn's worker processes call (settings arrive through the environment)."""
    return create_app(ServeSettings.from_env())
