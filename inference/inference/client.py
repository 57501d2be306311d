"""Invoke a model endpoint: a deployed SageMaker endpoint, or the same server running locally.

    python -m inference.client --endpoint NAME [--region R] FILE_OR_FOLDER...
    python -m inference.client --url http://127.0.0.1:8080 FILE_OR_FOLDER...

Both go through boto3 `sagemaker-runtime` `invoke_endpoint`; `--url` only sets `endpoint_url`, so a
local run exercises the code path of the cloud (a loopback URL gets dummy credentials). Files are
PNG/JPEG images, WAV audio, `.npy` arrays or `.json` bodies (`{"instances": [...]}`); a folder is
searched recursively for the first four. Prints a table of the top-k predictions per input, or JSON
with `--json`. Throttling and 5xx answers are retried with exponential backoff (botocore's
standard retry mode); a file over the payload limit (6 MiB) is refused before anything is sent.

Exit codes (the worst one wins):
  0  every file got predictions
  2  bad command line, or no input file found
  3  a file was refused locally (too large, unknown type, unreadable); the others were sent
  4  the endpoint answered an error for a file (after retries)
  5  the endpoint cannot be reached (connection, credentials, region); the run stops

Python API: `EndpointClient(endpoint="name", url=None).predict_file(path, top_k=3)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

EXIT_OK, EXIT_USAGE, EXIT_REFUSED, EXIT_ENDPOINT_ERROR, EXIT_UNREACHABLE = 0, 2, 3, 4, 5
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".wav": "audio/wav",
    ".npy": "application/x-npy",
    ".json": "application/json",
}
FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg", ".wav", ".npy")  # manifest.json and friends are not inputs
DEFAULT_MAX_PAYLOAD_MB = 6.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class InputRefused(Exception):
    """A file the client will not send (exit 3)."""


class EndpointUnreachable(Exception):
    """No answer at all: connection refused, no credentials, no region (exit 5)."""


class InvocationError(Exception):
    """The endpoint answered with an error (exit 4)."""

    def __init__(self, status: int | None, code: str, message: str) -> None:
        label = f"HTTP {status}" if code in ("", str(status)) else f"HTTP {status} {code}"
        super().__init__(f"{label}: {message}")
        self.status, self.code, self.message = status, code, message


def content_type_for(path: Path) -> str:
    try:
        return CONTENT_TYPES[path.suffix.lower()]
    except KeyError:
        raise InputRefused(
            f"{path}: unknown file type {path.suffix!r} (expected one of {', '.join(CONTENT_TYPES)})"
        ) from None


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders searched recursively (sorted) for images, WAVs and .npy arrays."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return files


class EndpointClient:
    """boto3 `sagemaker-runtime` for one endpoint; `url` points it at a local server instead."""

    def __init__(
        self,
        endpoint: str = "local",
        *,
        region: str | None = None,
        url: str | None = None,
        retries: int = 5,
        timeout_s: float = 60.0,
        max_payload_mb: float = DEFAULT_MAX_PAYLOAD_MB,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint
        self.max_payload_bytes = int(max_payload_mb * 1024 * 1024)
        session = boto3.session.Session(region_name=region)
        options: dict[str, Any] = {}
        if url:
            options["endpoint_url"] = url
            region = region or session.region_name or "us-east-1"
            if urlparse(url).hostname in LOCAL_HOSTS:
                options.update(aws_access_key_id="local", aws_secret_access_key="local")
        config = Config(
            retries={"max_attempts": retries, "mode": "standard"},
            connect_timeout=10,
            read_timeout=timeout_s,
            tcp_keepalive=True,
        )
        self._client = session.client("sagemaker-runtime", region_name=region, config=config, **options)

    def invoke(self, body: bytes, content_type: str, top_k: int | None = None) -> dict[str, Any]:
        """POST one body; returns the decoded JSON answer or raises InvocationError/EndpointUnreachable."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        if len(body) > self.max_payload_bytes:
            raise InputRefused(f"body of {len(body)} bytes is over the {self.max_payload_bytes}-byte limit")
        request: dict[str, Any] = {
            "EndpointName": self.endpoint,
            "Body": body,
            "ContentType": content_type,
            "Accept": "application/json",
        }
        if top_k is not None:
            request["CustomAttributes"] = f"top_k={top_k}"
        try:
            response = self._client.invoke_endpoint(**request)
            payload = response["Body"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise InvocationError(status, str(details.get("Code", "")), str(details.get("Message", ""))) from None
        except (NoCredentialsError, NoRegionError) as error:
            raise EndpointUnreachable(str(error)) from None
        except BotoCoreError as error:  # connection refused, timeouts after retries, ...
            raise EndpointUnreachable(str(error)) from None
        try:
            return json.loads(payload)
        except ValueError:
            raise InvocationError(200, "bad_response", f"answer is not JSON: {payload[:200]!r}") from None

    def predict_file(self, path: Path, top_k: int | None = None) -> list[dict[str, Any]]:
        """The predictions (one per input in the file) for one file."""
        path = Path(path)
        content_type = content_type_for(path)
        try:
            size = path.stat().st_size
            if size > self.max_payload_bytes:
                raise InputRefused(f"{path}: {size} bytes is over the {self.max_payload_bytes}-byte payload limit")
            body = path.read_bytes()
        except OSError as error:
            raise InputRefused(f"{path}: cannot read ({error.strerror})") from None
        return self.invoke(body, content_type, top_k)["predictions"]


@dataclass
class FileResult:
    path: Path
    predictions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    exit_code: int = EXIT_OK


def run(client: EndpointClient, files: Sequence[Path], top_k: int | None) -> list[FileResult]:
    results = []
    for path in files:
        try:
            results.append(FileResult(path, client.predict_file(path, top_k)))
        except InputRefused as error:
            results.append(FileResult(path, error=str(error), exit_code=EXIT_REFUSED))
        except InvocationError as error:
            results.append(FileResult(path, error=str(error), exit_code=EXIT_ENDPOINT_ERROR))
        except EndpointUnreachable as error:
            results.append(FileResult(path, error=str(error), exit_code=EXIT_UNREACHABLE))
            break
    return results


def format_table(results: Sequence[FileResult]) -> str:
    rows = [("input", "rank", "label", "probability")]
    for result in results:
        if result.error is not None:
            rows.append((str(result.path), "-", "error", result.error))
            continue
        many = len(result.predictions) > 1
        for i, prediction in enumerate(result.predictions):
            name = f"{result.path}[{i}]" if many else str(result.path)
            for rank, entry in enumerate(prediction["top_k"], 1):
                rows.append((name if rank == 1 else "", str(rank), entry["label"], f"{entry['probability']:.4f}"))
    widths = [max(len(row[c]) for row in rows) for c in range(3)]
    return "\n".join("  ".join(row[c].ljust(widths[c]) for c in range(3)) + "  " + row[3] for row in rows)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inference.client",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", type=Path, help="PNG/JPEG/WAV/NPY/JSON files or folders")
    parser.add_argument("--endpoint", default=None, help="SageMaker endpoint name (default 'local' with --url)")
    parser.add_argument("--region", default=None, help="AWS region (default: the configured one)")
    parser.add_argument("--url", default=None, help="a server to call instead, e.g. http://127.0.0.1:8080")
    parser.add_argument("--top-k", type=int, default=3, help="predictions to show per input (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--retries", type=int, default=5, help="retries of throttled or 5xx calls (default 5)")
    parser.add_argument("--timeout", type=float, default=60.0, help="read timeout per attempt in seconds")
    parser.add_argument(
        "--max-payload-mb",
        type=float,
        default=DEFAULT_MAX_PAYLOAD_MB,
        help="refuse larger files before sending (default 6 MiB)",
    )
    args = parser.parse_args(argv)
    if not args.endpoint and not args.url:
        parser.error("give --endpoint NAME (a deployed endpoint) or --url URL (a local server)")
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        files = collect_files(args.paths)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        print("error: no PNG/JPEG/WAV/NPY file found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return EXIT_USAGE
    try:
        client = EndpointClient(
            args.endpoint or "local",
            region=args.region,
            url=args.url,
            retries=args.retries,
            timeout_s=args.timeout,
            max_payload_mb=args.max_payload_mb,
        )
    except Exception as error:  # botocore: unknown region, bad URL, ...
        print(f"error: cannot create the sagemaker-runtime client: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    results = run(client, files, args.top_k)
    if args.json:
        document = [
            {"file": str(r.path), **({"error": r.error} if r.error else {"predictions": r.predictions})}
            for r in results
        ]
        print(json.dumps(document, indent=2))
    else:
        print(format_table(results))
    for result in results:
        if result.error:
            print(f"error: {result.path}: {result.error}", file=sys.stderr)
    return max((r.exit_code for r in results), default=EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
