"""Captured requests and responses in SageMaker's data-capture JSON Lines format.

One JSON object per line (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html,
"View Captured Data"):

    {"captureData": {"endpointInput": {"observedContentType": "image/png", "mode": "INPUT",
                                       "data": "<base64>", "encoding": "BASE64"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "{...}", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "2026-12-07T01:00:00Z"},
     "eventVersion": "0"}

The serving container's own capture (inference.capture, for the modes SageMaker does not capture)
writes the same shape and adds `eventMetadata.modelVersion`. Reading never raises on bad content: a
line that is not such an object is counted with its file and line number, and a file none of whose
lines is one is reported as not JSON Lines.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_PROBLEMS = 20  # problems named in the report; the rest are counted


@dataclass(frozen=True)
class Capture:
    inference_id: str
    content_type: str
    body: bytes
    output: dict[str, Any]
    model_version: str | None  # None: SageMaker's capture (the prefix names the endpoint and variant)
    time: str | None
    source: str  # file:line


@dataclass
class CaptureRead:
    captures: list[Capture] = field(default_factory=list)
    files: int = 0
    bad_lines: int = 0
    not_json_lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.bad_lines += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def _payload(part: dict[str, Any], what: str) -> bytes:
    data, encoding = part["data"], str(part.get("encoding", "BASE64")).upper()
    if not isinstance(data, str):
        raise ValueError(f"{what}.data is not a string")
    if encoding == "BASE64":
        return base64.b64decode(data, validate=True)
    if encoding in ("JSON", "CSV", "TEXT"):
        return data.encode("utf-8")
    raise ValueError(f"{what}.encoding {encoding!r} is not BASE64, JSON, CSV or TEXT")


def parse_line(line: str, source: str) -> Capture:
    """One capture record; ValueError (with the reason) for anything else."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    if not isinstance(record, dict) or not isinstance(record.get("captureData"), dict):
        raise ValueError("no captureData object")
    data, meta = record["captureData"], record.get("eventMetadata") or {}
    try:
        request, response = data["endpointInput"], data["endpointOutput"]
        body = _payload(request, "endpointInput")
        output = json.loads(_payload(response, "endpointOutput"))
    except KeyError as error:
        raise ValueError(f"captureData lacks {error.args[0]} (capture both Input and Output)") from None
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"undecodable payload: {type(error).__name__}: {error}") from None
    if not isinstance(output, dict) or not isinstance(output.get("predictions"), list):
        raise ValueError("the captured response is not a prediction document (an error answer?)")
    inference_id = meta.get("inferenceId") or meta.get("eventId") or source
    return Capture(
        inference_id=str(inference_id),
        content_type=str(request.get("observedContentType", "")),
        body=body,
        output=output,
        model_version=meta.get("modelVersion"),
        time=meta.get("inferenceTime"),
        source=source,
    )


def capture_files(paths: Iterable[Path]) -> list[Path]:
    """The files given, and every `*.jsonl` under the folders given, in name order."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.jsonl")) if path.is_dir() else [path])
    return files


def read_captures(paths: Iterable[Path]) -> CaptureRead:
    read = CaptureRead()
    for path in capture_files(paths):
        read.files += 1
        good = bad = 0
        try:
            with path.open("r", encoding="utf-8", errors="replace") as lines:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        read.captures.append(parse_line(line, f"{path}:{number}"))
                        good += 1
                    except ValueError as error:
                        bad += 1
                        read.problem(f"{path}:{number}: {error}")
        except OSError as error:
            read.not_json_lines.append(f"{path}: unreadable: {error.strerror or error}")
            continue
        if bad and not good:
            read.not_json_lines.append(f"{path}: not JSON Lines of capture records ({bad} lines, none readable)")
    return read
