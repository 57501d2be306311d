"""The server's own data capture: sampled requests and answers as JSON Lines in SageMaker's capture format.

SageMaker captures a realtime endpoint's traffic itself (EndpointConfig DataCaptureConfig; AWS documents
Data Capture for real-time endpoints and batch transform:
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html). This module is for
where that does not run: local mode, and any server started with `INFERENCE_CAPTURE_DIR`. It writes
the same record shape (`monitor.captures` reads both) with `eventMetadata.modelVersion` added, a digest
of the artifact's manifest, so the monitor can leave out captures of another model version.

Off the request path: the handler only draws the sample and puts `(body, answer)` on a bounded queue
(no copy: both are immutable bytes); one daemon thread base64-encodes, writes and rotates the files.
A full queue drops the record and counts it; capture never delays or fails a request.

Environment:
- `INFERENCE_CAPTURE_DIR`: the folder (unset or empty: capture off). Files go to
  `<dir>/<yyyy>/<mm>/<dd>/<hh>/<minute>-<uuid>.jsonl`, SageMaker's hourly layout.
- `INFERENCE_CAPTURE_PERCENT`: the share of requests captured, 0 to 100 (default 100).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType

log = logging.getLogger(__name__)

DIR_VARIABLE = "INFERENCE_CAPTURE_DIR"
PERCENT_VARIABLE = "INFERENCE_CAPTURE_PERCENT"
# The InvokeEndpoint InferenceId, as the client sends it to a local server (SageMaker's runtime header).
INFERENCE_ID_HEADER = "x-amzn-sagemaker-inference-id"
VERSION_CHARS = 16
QUEUE_SIZE = 1024
RECORDS_PER_FILE = 1000
SECONDS_PER_FILE = 60.0


class CaptureError(ValueError):
    """A capture setting is wrong; the message names the variable."""


@dataclass(frozen=True)
class CaptureSettings:
    directory: Path | None
    percent: float = 100.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> CaptureSettings:
        env = os.environ if environ is None else environ
        directory = env.get(DIR_VARIABLE, "").strip()
        raw = env.get(PERCENT_VARIABLE, "100").strip() or "100"
        try:
            percent = float(raw)
        except ValueError:
            raise CaptureError(f"{PERCENT_VARIABLE}={raw!r}: not a number; allowed: 0 to 100") from None
        if not 0 <= percent <= 100:
            raise CaptureError(f"{PERCENT_VARIABLE}={raw!r}; allowed: 0 to 100")
        return cls(Path(directory) if directory else None, percent)


def model_version(model_dir: Path) -> str:
    """A digest of the artifact's manifest (it records when the model was trained); monitor.run computes
    the same for the artifact it compares with."""
    return hashlib.sha256((model_dir / "manifest.json").read_bytes()).hexdigest()[:VERSION_CHARS]


def record(body: bytes, content_type: str, answer: bytes, inference_id: str | None, version: str) -> str:
    """One JSON line in SageMaker's capture shape (monitor.captures documents it)."""
    event_id = str(uuid.uuid4())
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": base64.b64encode(body).decode("ascii"),
                    "encoding": "BASE64",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": answer.decode("utf-8"),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": event_id,
                "inferenceId": inference_id or event_id,
                "inferenceTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "modelVersion": version,
            },
            "eventVersion": "0",
        }
    )


class CaptureWriter:
    """Samples on the caller's thread, writes on its own."""

    def __init__(self, settings: CaptureSettings, version: str, rng: random.Random | None = None) -> None:
        if settings.directory is None:
            raise CaptureError(f"{DIR_VARIABLE} is not set")
        self.settings = settings
        self.version = version
        self.directory = settings.directory
        self.rng = rng or random.Random()
        self.queue: queue.Queue[tuple[bytes, str, bytes, str | None] | None] = queue.Queue(QUEUE_SIZE)
        self.captured = 0
        self.dropped = 0
        self.written = 0
        self._thread = threading.Thread(target=self._write_loop, name="capture-writer", daemon=True)
        self.directory.mkdir(parents=True, exist_ok=True)  # fail at start, not per request
        self._thread.start()

    def offer(self, body: bytes, content_type: str, answer: bytes, inference_id: str | None) -> None:
        if self.settings.percent < 100 and self.rng.random() * 100 >= self.settings.percent:
            return
        try:
            self.queue.put_nowait((body, content_type, answer, inference_id))
            self.captured += 1
        except queue.Full:
            self.dropped += 1

    def _path(self) -> Path:
        now = datetime.now(UTC)
        folder = self.directory / now.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{now.strftime('%M-%S')}-{uuid.uuid4().hex[:12]}.jsonl"

    def _write_loop(self) -> None:
        handle, count, opened = None, 0, 0.0
        while True:
            item: tuple[bytes, str, bytes, str | None] | None | EllipsisType
            try:
                item = self.queue.get(timeout=1.0)
            except queue.Empty:
                item = ...  # a tick: close a file that has been open long enough
            if item is None or (
                handle is not None and (count >= RECORDS_PER_FILE or time.monotonic() - opened > SECONDS_PER_FILE)
            ):
                if handle is not None:
                    handle.close()
                    handle, count = None, 0
                if item is None:
                    return
            if item is ...:
                continue
            try:
                if handle is None:
                    handle, opened = self._path().open("a", encoding="utf-8"), time.monotonic()
                handle.write(record(*item, self.version) + "\n")
                handle.flush()
                count += 1
                self.written += 1
            except (OSError, UnicodeDecodeError) as error:  # a full disk loses captures, never requests
                self.dropped += 1
                log.warning("capture: %s", error)

    def close(self, timeout: float = 5.0) -> None:
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


def start_capture(model_dir: Path, environ: dict[str, str] | None = None) -> CaptureWriter | None:
    """The writer the environment asks for, or None when capture is off."""
    settings = CaptureSettings.from_env(environ)
    if settings.directory is None or settings.percent == 0:
        return None
    writer = CaptureWriter(settings, model_version(model_dir))
    log.info(
        "capturing %g%% of requests to %s (model version %s)", settings.percent, settings.directory, writer.version
    )
    return writer
