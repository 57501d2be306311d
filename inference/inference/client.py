"""Invoke a model endpoint: a deployed SageMaker endpoint, or the same server running locally.

    python -m inference.client --endpoint NAME [--region R] FILE_OR_FOLDER...
    python -m inference.client --endpoint NAME --component NAME-component FILE...      (mode scale-to-zero)
    python -m inference.client --endpoint NAME --async-input s3://BUCKET/async/MODEL/input/ FILE...  (mode async)
    python -m inference.client --url http://127.0.0.1:8080 FILE_OR_FOLDER...
    python -m inference.client --url http://127.0.0.1:8080 --explain integrated_gradients FILE...

Both go through boto3 `sagemaker-runtime` `invoke_endpoint`; `--url` only sets `endpoint_url`, so a
local run exercises the code path of the cloud (a loopback URL gets dummy credentials). Files are
PNG/JPEG images, WAV audio, `.npy` arrays or `.json` bodies (`{"instances": [...]}`); a folder is
searched recursively for the first four. Prints a table of the top-k predictions per input, or JSON
with `--json`. Throttling and 5xx answers are retried with exponential backoff (botocore's
standard retry mode); a file over the payload limit (6 MiB) is refused before anything is sent.

`--explain METHOD` (`integrated_gradients` or `gradient_x_input`) asks for an explanation with each
prediction and writes it as a PNG beside the input, `<input>.explain.png` (`<input>.explain.<i>.png`
for a file of several inputs): the attribution over the image for an image model (red raises the
predicted class's score, blue lowers it), the frames x MFCC coefficients map for an audio model.

Serving modes (cdk.json `serving.<model>.mode`; the serving stack's outputs name what to pass):
- realtime: `--endpoint` only.
- scale-to-zero: `--component` names the inference component (sent as InferenceComponentName). While
  the endpoint has no instance, a call fails with a "no capacity" error, and that failure is what
  wakes it (an alarm adds a copy, then SageMaker an instance): the client keeps retrying with
  backoff (10 s doubling to 60 s), printing what it waits for, for up to `--wait-for-capacity`
  seconds (default 900 = 15 min: AWS says provisioning "takes several minutes"; 0 fails at once).
- async: `--async-input s3://BUCKET/PREFIX/` uploads each file there, calls invoke_endpoint_async and
  polls the output (or failure) object SageMaker writes, for up to `--async-timeout` seconds
  (default 1800; the queue also waits while the endpoint scales from zero); `--no-wait` prints the
  output and failure locations instead. Files up to `--max-payload-mb` (raise it to the endpoint's
  `async.max_payload_mb`) are sent.

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
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from inference.async_invocation import (
    DEFAULT_ASYNC_TIMEOUT_S,
    AsyncFailed,
    AsyncLocations,
    AsyncPending,
    backoff,
    input_key,
    wait_for_answer,
)
from inference.settings import ServeSettings

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
DEFAULT_MAX_PAYLOAD_MB = ServeSettings.max_payload_mb  # the server's limit, SageMaker's 6 MB
# How long a call waits for an endpoint scaled to zero to get an instance back (see the module doc).
DEFAULT_CAPACITY_WAIT_S = 900.0
CAPACITY_BACKOFF_S = (10.0, 20.0, 40.0, 60.0)  # then 60 s each
# The 400 an inference component endpoint answers while it has no copy (it also publishes the
# NoCapacityInvocationFailures metric that wakes the endpoint).
NO_CAPACITY = re.compile(r"no capacity|not have (enough )?capacity|NoCapacity", re.IGNORECASE)
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


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def capacity_delays(budget_s: float) -> Iterator[float]:
    """The waits between attempts while capacity arrives: 10, 20, 40, 60, 60, ... s, within `budget_s`."""
    return backoff(CAPACITY_BACKOFF_S, budget_s)


class EndpointClient:
    """boto3 `sagemaker-runtime` for one endpoint; `url` points it at a local server instead.

    `component` names the inference component of a scale-to-zero endpoint; `wait_for_capacity_s` is how
    long a call keeps retrying while that endpoint has no instance, reporting through `progress`."""

    def __init__(
        self,
        endpoint: str = "local",
        *,
        region: str | None = None,
        url: str | None = None,
        retries: int = 5,
        timeout_s: float = 60.0,
        max_payload_mb: float = DEFAULT_MAX_PAYLOAD_MB,
        component: str | None = None,
        wait_for_capacity_s: float = DEFAULT_CAPACITY_WAIT_S,
        progress: Callable[[str], None] = _stderr,
        sleep: Callable[[float], None] = time.sleep,
        async_input: str | None = None,
        async_wait: bool = True,
        async_timeout_s: float = DEFAULT_ASYNC_TIMEOUT_S,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint, self.component = endpoint, component
        self.wait_for_capacity_s, self.progress, self.sleep = wait_for_capacity_s, progress, sleep
        self.async_input, self.async_wait, self.async_timeout_s = async_input, async_wait, async_timeout_s
        self.max_payload_bytes = int(max_payload_mb * 1024 * 1024)
        session = boto3.session.Session(region_name=region)
        self._session = session
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
        self.region, self.config, self._s3_client = region, config, None

    @property
    def s3(self) -> Any:
        """The S3 client of the async path (same session and region as the runtime client)."""
        if self._s3_client is None:
            self._s3_client = self._session.client("s3", region_name=self.region, config=self.config)
        return self._s3_client

    def _call(self, operation: Callable[..., dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
        """One runtime call; while a scale-to-zero endpoint answers "no capacity", wait and retry.
        Raises InvocationError (the endpoint answered an error) or EndpointUnreachable."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        delays = iter(capacity_delays(self.wait_for_capacity_s))
        waited = 0.0
        while True:
            try:
                return operation(**request)
            except ClientError as error:
                details = error.response.get("Error", {})
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code, message = str(details.get("Code", "")), str(details.get("Message", ""))
                if not NO_CAPACITY.search(message) and not NO_CAPACITY.search(code):
                    raise InvocationError(status, code, message) from None
                delay = next(delays, None)
                if delay is None:
                    raise InvocationError(
                        status,
                        code,
                        f"{message} (no capacity after waiting {waited:.0f} s; an "
                        "endpoint scaled to zero takes minutes to get an instance back: "
                        "raise --wait-for-capacity)",
                    ) from None
                self.progress(
                    f"{self.endpoint}: no instance yet (scaling out from zero); retrying in "
                    f"{delay:.0f} s ({waited:.0f} s of up to {self.wait_for_capacity_s:.0f} s waited)"
                )
                self.sleep(delay)
                waited += delay
            except (NoCredentialsError, NoRegionError) as error:
                raise EndpointUnreachable(str(error)) from None
            except BotoCoreError as error:  # connection refused, timeouts after retries, ...
                raise EndpointUnreachable(str(error)) from None

    def invoke(
        self, body: bytes, content_type: str, top_k: int | None = None, explain: str | None = None
    ) -> dict[str, Any]:
        """POST one body; returns the decoded JSON answer or raises InvocationError/EndpointUnreachable."""
        if len(body) > self.max_payload_bytes:
            raise InputRefused(f"body of {len(body)} bytes is over the {self.max_payload_bytes}-byte limit")
        request: dict[str, Any] = {
            "EndpointName": self.endpoint,
            "Body": body,
            "ContentType": content_type,
            "Accept": "application/json",
        }
        attributes = [f"top_k={top_k}"] if top_k is not None else []
        if explain:
            attributes.append(f"explain={explain}")
        if attributes:
            request["CustomAttributes"] = ";".join(attributes)
        if self.component:
            request["InferenceComponentName"] = self.component
        response = self._call(self._client.invoke_endpoint, request)
        try:
            payload = response["Body"].read()
        except Exception as error:  # botocore ReadTimeoutError and friends while streaming the body
            raise EndpointUnreachable(str(error)) from None
        return self._decode(payload)

    def submit_async(self, body: bytes, content_type: str, name: str, top_k: int | None = None) -> AsyncLocations:
        """Upload `body` under `async_input`, queue it with invoke_endpoint_async; returns where the answer
        (or the failure) will be written."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.async_input:
            raise ValueError("submit_async needs async_input=s3://BUCKET/PREFIX/")
        if len(body) > self.max_payload_bytes:
            raise InputRefused(f"body of {len(body)} bytes is over the {self.max_payload_bytes}-byte limit")
        bucket, key = input_key(self.async_input, name)
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise InvocationError(
                error.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
                str(details.get("Code", "")),
                f"upload to s3://{bucket}/{key}: {details.get('Message', '')}",
            ) from None
        except BotoCoreError as error:
            raise EndpointUnreachable(str(error)) from None
        request: dict[str, Any] = {
            "EndpointName": self.endpoint,
            "InputLocation": f"s3://{bucket}/{key}",
            "ContentType": content_type,
            "Accept": "application/json",
        }
        if top_k is not None:
            request["CustomAttributes"] = f"top_k={top_k}"
        response = self._call(self._client.invoke_endpoint_async, request)
        return AsyncLocations(
            response.get("InferenceId", ""),
            request["InputLocation"],
            response["OutputLocation"],
            response.get("FailureLocation"),
        )

    def invoke_async(self, body: bytes, content_type: str, name: str, top_k: int | None = None) -> dict[str, Any]:
        """submit_async, then wait for the answer (up to async_timeout_s) and decode it."""
        from botocore.exceptions import BotoCoreError, ClientError

        locations = self.submit_async(body, content_type, name, top_k)
        try:
            payload = wait_for_answer(
                self.s3, locations, timeout_s=self.async_timeout_s, sleep=self.sleep, progress=self.progress
            )
        except AsyncFailed as failure:
            raise InvocationError(None, "async_failure", f"{failure} ({locations.failure_location})") from None
        except AsyncPending as pending:
            raise InvocationError(None, "async_pending", str(pending)) from None
        except ClientError as error:
            raise InvocationError(
                error.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
                str(error.response.get("Error", {}).get("Code", "")),
                f"reading the answer: {error}",
            ) from None
        except BotoCoreError as error:
            raise EndpointUnreachable(str(error)) from None
        return self._decode(payload)

    @staticmethod
    def _decode(payload: bytes) -> dict[str, Any]:
        try:
            return json.loads(payload)
        except ValueError:
            raise InvocationError(200, "bad_response", f"answer is not JSON: {payload[:200]!r}") from None

    def predict_file(self, path: Path, top_k: int | None = None, explain: str | None = None) -> list[dict[str, Any]]:
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
        if self.async_input:
            return self.invoke_async(body, content_type, path.name, top_k)["predictions"]
        predictions = self.invoke(body, content_type, top_k, explain)["predictions"]
        if explain:
            from inference.explain_files import write_explanation_pngs

            write_explanation_pngs(path, body, content_type, predictions)
        return predictions

    def submit_file(self, path: Path, top_k: int | None = None) -> AsyncLocations:
        """Queue one file on an async endpoint without waiting (`--no-wait`)."""
        path = Path(path)
        content_type = content_type_for(path)
        try:
            body = path.read_bytes()
        except OSError as error:
            raise InputRefused(f"{path}: cannot read ({error.strerror})") from None
        if len(body) > self.max_payload_bytes:
            raise InputRefused(f"{path}: {len(body)} bytes is over the {self.max_payload_bytes}-byte payload limit")
        return self.submit_async(body, content_type, path.name, top_k)


@dataclass
class FileResult:
    path: Path
    predictions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    exit_code: int = EXIT_OK
    queued: AsyncLocations | None = None  # async --no-wait: where the answer will be


def run(
    client: EndpointClient, files: Sequence[Path], top_k: int | None, explain: str | None = None
) -> list[FileResult]:
    results = []
    for path in files:
        try:
            if client.async_input and not client.async_wait:
                results.append(FileResult(path, queued=client.submit_file(path, top_k)))
            else:
                results.append(FileResult(path, client.predict_file(path, top_k, explain)))
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
        if result.queued is not None:
            rows.append((str(result.path), "-", "queued", f"answer at {result.queued.output_location}"))
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
    parser.add_argument(
        "--component",
        default=None,
        help="inference component name (mode scale-to-zero; the stack output InferenceComponentName)",
    )
    parser.add_argument(
        "--wait-for-capacity",
        type=float,
        default=DEFAULT_CAPACITY_WAIT_S,
        metavar="SECONDS",
        help="how long to retry while a scaled-to-zero endpoint gets an instance back "
        f"(default {DEFAULT_CAPACITY_WAIT_S:.0f}; 0: fail at once)",
    )
    parser.add_argument(
        "--async-input",
        default=None,
        metavar="S3_URI",
        help="mode async: upload inputs under this s3://BUCKET/PREFIX/ (the stack output "
        "AsyncInputLocation) and call invoke_endpoint_async",
    )
    parser.add_argument(
        "--async-timeout",
        type=float,
        default=DEFAULT_ASYNC_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long to wait for each async answer (default {DEFAULT_ASYNC_TIMEOUT_S:.0f})",
    )
    parser.add_argument("--no-wait", action="store_true", help="async: print where the answers will be, do not wait")
    parser.add_argument(
        "--explain",
        default=None,
        metavar="METHOD",
        choices=("integrated_gradients", "ig", "gradient_x_input", "gxi"),
        help="explain each prediction (integrated_gradients or gradient_x_input) and write "
        "<input>.explain.png beside each input",
    )
    args = parser.parse_args(argv)
    if not args.endpoint and not args.url:
        parser.error("give --endpoint NAME (a deployed endpoint) or --url URL (a local server)")
    if args.async_input and args.url:
        parser.error("--async-input needs a deployed endpoint (--endpoint), not --url")
    if args.async_input and not args.async_input.startswith("s3://"):
        parser.error("--async-input must be an s3://BUCKET/PREFIX/ location")
    if args.no_wait and not args.async_input:
        parser.error("--no-wait applies to --async-input only")
    if args.async_input and args.component:
        parser.error("--component (scale-to-zero) and --async-input (async) are different serving modes")
    if args.wait_for_capacity < 0 or args.async_timeout < 0:
        parser.error("--wait-for-capacity and --async-timeout must be >= 0")
    if args.explain and args.async_input:
        parser.error("--explain needs a real-time call (--endpoint or --url), not --async-input")
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
            component=args.component,
            wait_for_capacity_s=args.wait_for_capacity,
            async_input=args.async_input,
            async_wait=not args.no_wait,
            async_timeout_s=args.async_timeout,
        )
    except Exception as error:  # botocore: unknown region, bad URL, ...
        print(f"error: cannot create the sagemaker-runtime client: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    results = run(client, files, args.top_k, args.explain)
    if args.json:
        document = [
            {
                "file": str(r.path),
                **(
                    {"error": r.error}
                    if r.error
                    else {"queued": r.queued.as_dict()}
                    if r.queued
                    else {"predictions": r.predictions}
                ),
            }
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
