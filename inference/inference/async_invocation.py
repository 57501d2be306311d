"""The S3 side of an asynchronous invocation: upload the input, then wait for the answer or the failure.

SageMaker's InvokeEndpointAsync takes the input as an S3 location and answers at once with the
locations it will write: OutputLocation (the model's answer) and FailureLocation (the error), see
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html.
The endpoint's model role reads only its own prefix (the serving stack's AsyncInputLocation output).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

POLL_DELAYS_S = (2.0, 4.0, 8.0, 15.0, 30.0)  # then 30 s each
DEFAULT_ASYNC_TIMEOUT_S = 1800.0
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.*)$")


class AsyncFailed(Exception):
    """SageMaker wrote a failure object for the request; the message is its content."""


class AsyncPending(Exception):
    """Neither an answer nor a failure appeared within the wait."""


@dataclass(frozen=True)
class AsyncLocations:
    inference_id: str
    input_location: str
    output_location: str
    failure_location: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "inference_id": self.inference_id,
            "input": self.input_location,
            "output": self.output_location,
            "failure": self.failure_location,
        }


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = S3_URI.match(uri)
    if not match:
        raise ValueError(f"{uri!r} is not an s3://BUCKET/KEY location")
    return match.group(1), match.group(2)


def input_key(prefix_uri: str, name: str) -> tuple[str, str]:
    """Bucket and a fresh key under `prefix_uri` (s3://BUCKET/PREFIX/) for a file called `name`."""
    bucket, prefix = parse_s3_uri(prefix_uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[-100:]
    return bucket, f"{prefix}{uuid.uuid4().hex}-{safe}"


def backoff(schedule: Sequence[float], budget_s: float) -> Iterator[float]:
    """The waits of `schedule`, its last repeated, cut so that they add up to `budget_s` exactly."""
    waited, step = 0.0, 0
    while waited < budget_s:
        delay = min(schedule[min(step, len(schedule) - 1)], budget_s - waited)
        yield delay
        waited += delay
        step += 1


def poll_delays(budget_s: float) -> Iterator[float]:
    """The waits between polls for an asynchronous answer: 2, 4, 8, 15, 30, 30, ... s, within `budget_s`."""
    return backoff(POLL_DELAYS_S, budget_s)


def _read(s3: Any, uri: str | None) -> bytes | None:
    """The object's bytes, or None while it does not exist."""
    from botocore.exceptions import ClientError

    if not uri:
        return None
    bucket, key = parse_s3_uri(uri)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def wait_for_answer(
    s3: Any,
    locations: AsyncLocations,
    *,
    timeout_s: float,
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> bytes:
    """The answer's bytes once SageMaker has written it; AsyncFailed with the failure's text, or
    AsyncPending after `timeout_s`."""
    waited = 0.0
    delays = iter(poll_delays(timeout_s))
    while True:
        answer = _read(s3, locations.output_location)
        if answer is not None:
            return answer
        failure = _read(s3, locations.failure_location)
        if failure is not None:
            raise AsyncFailed(failure.decode("utf-8", "replace").strip()[:2000])
        delay = next(delays, None)
        if delay is None:
            raise AsyncPending(
                f"no answer after {waited:.0f} s; it will appear at {locations.output_location} "
                f"(or the error at {locations.failure_location})"
            )
        progress(
            f"{locations.inference_id}: queued or running; checking again in {delay:.0f} s "
            f"({waited:.0f} s of up to {timeout_s:.0f} s waited)"
        )
        sleep(delay)
        waited += delay
