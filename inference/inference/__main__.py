"""`python -m inference serve [flags]`: the serving container's entry point (see inference.settings)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from inference.artifact import load_manifest
from inference.errors import ArtifactError
from inference.settings import ServeSettings, SettingsError


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m inference", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the model in the model dir over HTTP")
    serve.add_argument("--model-dir", help="model artifact folder (SM_MODEL_DIR, default /opt/ml/model)")
    serve.add_argument("--port", type=int, help="port (SAGEMAKER_BIND_TO_PORT, default 8080)")
    serve.add_argument("--host", help="address to bind (default 0.0.0.0)")
    serve.add_argument("--workers", type=int, help="worker processes (SAGEMAKER_MODEL_SERVER_WORKERS, default 1)")
    serve.add_argument(
        "--max-payload-mb", type=float, help="body limit in MiB (SAGEMAKER_MAX_PAYLOAD_IN_MB, default 6)"
    )
    serve.add_argument(
        "--max-batch-size", type=int, help="rows per forward pass (INFERENCE_MAX_BATCH_SIZE, default 32)"
    )
    serve.add_argument(
        "--max-batch-delay-ms",
        type=float,
        help="always wait up to this long for a full batch (INFERENCE_MAX_BATCH_DELAY_MS, default 0: off)",
    )
    serve.add_argument(
        "--adaptive-batch-wait-ms",
        type=float,
        help="wait up to this long for a fuller batch when under load (INFERENCE_ADAPTIVE_BATCH_WAIT_MS, "
        "default 10; 0: off)",
    )
    serve.add_argument(
        "--num-threads", type=int, help="framework threads (INFERENCE_NUM_THREADS, default CPUs/workers)"
    )
    serve.add_argument(
        "--max-rows-per-request",
        type=int,
        help="inputs one request may hold (INFERENCE_MAX_ROWS_PER_REQUEST, default 1024; 413 beyond)",
    )
    serve.add_argument(
        "--request-deadline-s",
        type=float,
        help="seconds from a request's headers to its answer (INFERENCE_REQUEST_DEADLINE_S, default "
        "20; 408 or 503 beyond); below the 25 s drain after SIGTERM",
    )
    serve.add_argument(
        "--header-timeout-s",
        type=float,
        help="seconds to receive the request line and headers (INFERENCE_HEADER_TIMEOUT_S, default 10)",
    )
    serve.add_argument(
        "--max-header-bytes",
        type=int,
        help="request line and headers (INFERENCE_MAX_HEADER_BYTES, default 65536; 431 beyond)",
    )
    serve.add_argument(
        "--max-connections", type=int, help="open connections (INFERENCE_MAX_CONNECTIONS, default 1000; 503 beyond)"
    )
    serve.add_argument(
        "--max-concurrent-explanations",
        type=int,
        help="explanations at once (INFERENCE_MAX_CONCURRENT_EXPLANATIONS, default 1; 429 beyond)",
    )
    serve.add_argument(
        "--explain-deadline-s",
        type=float,
        help="seconds per explanation request (INFERENCE_EXPLAIN_DEADLINE_S, default 15)",
    )
    serve.add_argument(
        "--max-explain-rows", type=int, help="inputs per explanation request (INFERENCE_MAX_EXPLAIN_ROWS, default 8)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = ServeSettings.from_env(**options)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        load_manifest(settings.model_dir)  # a broken artifact stops here, before any framework loads
    except ArtifactError as error:
        print(f"error: {error} (set SM_MODEL_DIR or --model-dir)", file=sys.stderr)
        return 2
    from inference.server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
