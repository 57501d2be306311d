"""Run the application under uvicorn: one process, or `workers` processes sharing the port.

SIGTERM: uvicorn stops accepting, lets in-flight requests finish (up to `graceful_timeout_s`, inside
SageMaker's 30 s), runs the shutdown that ends the model thread, and the process exits 0. Every
request has a deadline (`request_deadline_s`) shorter than that drain, so none is cut off by it.

Connection limits: the httptools protocol of inference.protocol (header size and time), uvicorn's
`limit_concurrency` (503 beyond `max_connections`) and `timeout_keep_alive`. Without httptools
(the pure-Python fallback, h11) only the header size is bounded, by `h11_max_incomplete_event_size`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import signal
from typing import Any

import uvicorn

from inference.app import create_app
from inference.settings import ServeSettings

log = logging.getLogger(__name__)


def _available(module: str, fallback: str) -> str:
    """What uvicorn's `auto` loop/http setting picks: `module` where it is installed (the pinned
    requirements install uvloop and httptools), else the pure-Python `fallback`."""
    return module if importlib.util.find_spec(module) is not None else fallback


def _common(settings: ServeSettings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,
        "timeout_graceful_shutdown": settings.graceful_timeout_s,
        "timeout_keep_alive": 65,  # longer than SageMaker's front end keeps idle connections
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,  # the h11 fallback's header limit
        "log_level": "info",
        "server_header": False,
    }


def _http(settings: ServeSettings, workers: bool) -> type[asyncio.Protocol] | str:
    """The HTTP protocol: httptools with header limits, or uvicorn's h11 where httptools is missing."""
    if _available("httptools", "h11") == "h11":
        log.warning("httptools is not installed: the h11 parser bounds header size but not header time")
        return "h11"
    if workers:  # worker processes import it by name and read the limits from the environment
        return "inference.protocol:from_environment"
    from inference.protocol import HeaderLimits, protocol_class

    return protocol_class(HeaderLimits(settings.max_header_bytes, settings.header_timeout_s))


def serve(settings: ServeSettings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info(
        "serving %s on %s:%d (workers=%d, max_batch_size=%d, max_batch_delay_ms=%g, adaptive_batch_wait_ms=%g, "
        "threads=%d, forward pass in %s, event loop %s, HTTP parser %s; limits: %d rows per request, %g s deadline, "
        "headers %d bytes in %g s, %d connections)",
        settings.model_dir,
        settings.host,
        settings.port,
        settings.workers,
        settings.max_batch_size,
        settings.max_batch_delay_ms,
        settings.adaptive_batch_wait_ms,
        settings.threads,
        "a process of its own" if settings.model_process else "the model thread",
        _available("uvloop", "asyncio"),
        _available("httptools", "h11"),
        settings.max_rows_per_request,
        settings.request_deadline_s,
        settings.max_header_bytes,
        settings.header_timeout_s,
        settings.max_connections,
    )
    # uvicorn re-raises the signal it shut down on once it is done; a handler of our own turns that
    # into a normal return, so a drained server exits 0 as SageMaker expects.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: None)
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run(
            "inference.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            http=_http(settings, workers=True),
            **_common(settings),
        )
        return 0
    config = uvicorn.Config(create_app(settings), http=_http(settings, workers=False), **_common(settings))
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
