"""Server settings: SageMaker's environment variables, overridden by command-line flags.

| setting            | variable                          | flag                    | default          |
|--------------------|-----------------------------------|-------------------------|------------------|
| model directory    | `SM_MODEL_DIR`                    | `--model-dir`           | `/opt/ml/model`  |
| port               | `SAGEMAKER_BIND_TO_PORT`          | `--port`                | 8080             |
| host               | `INFERENCE_HOST`                  | `--host`                | 0.0.0.0          |
| worker processes   | `SAGEMAKER_MODEL_SERVER_WORKERS`  | `--workers`             | 1                |
| payload limit (MiB)| `SAGEMAKER_MAX_PAYLOAD_IN_MB`     | `--max-payload-mb`      | 6                |
| max batch (rows)   | `INFERENCE_MAX_BATCH_SIZE`        | `--max-batch-size`      | 32               |
| max batch wait (ms)| `INFERENCE_MAX_BATCH_DELAY_MS`    | `--max-batch-delay-ms`  | 0                |
| adaptive wait (ms) | `INFERENCE_ADAPTIVE_BATCH_WAIT_MS`| `--adaptive-batch-wait-ms` | 10            |
| framework threads  | `INFERENCE_NUM_THREADS`           | `--num-threads`         | CPUs / workers   |
| rows per request   | `INFERENCE_MAX_ROWS_PER_REQUEST`  | `--max-rows-per-request`| 1024             |
| request deadline (s)| `INFERENCE_REQUEST_DEADLINE_S`   | `--request-deadline-s`  | 20               |
| header timeout (s) | `INFERENCE_HEADER_TIMEOUT_S`      | `--header-timeout-s`    | 10               |
| header size (bytes)| `INFERENCE_MAX_HEADER_BYTES`      | `--max-header-bytes`    | 65536            |
| connections        | `INFERENCE_MAX_CONNECTIONS`       | `--max-connections`     | 1000             |
| explanations at once| `INFERENCE_MAX_CONCURRENT_EXPLANATIONS` | `--max-concurrent-explanations` | 1 |
| explanation deadline (s)| `INFERENCE_EXPLAIN_DEADLINE_S` | `--explain-deadline-s` | 15              |
| rows per explanation| `INFERENCE_MAX_EXPLAIN_ROWS`     | `--max-explain-rows`    | 8                |

One worker is the default: the model forward runs on all cores (intra-op threads) and the
micro-batcher groups concurrent requests, which beats several processes each holding a copy of the
model. The fixed batch wait (`max_batch_delay_ms`, default 0: off) makes every batch wait for a full
one, a lone request too. The adaptive wait (default up to 10 ms) waits only when the previous batch
and the rows queued behind it came to more rows than are queued now, for at most that many rows and
at most half the previous forward pass (inference.batching): a request at concurrency 1 runs at
once, and under load the batches stay full instead of splitting into a small one and its
stragglers. 0 turns it off.

Limits (inference.protocol, inference.app): a request may hold at most `max_rows_per_request` inputs
(413 beyond); it has `request_deadline_s` from its headers to its answer (408 if its body has not
arrived by then, 503 if the answer is not ready), shorter than the drain after SIGTERM
(`graceful_timeout_s`, 25 s: SageMaker kills the container 30 s after SIGTERM), so no request outlives
the drain. The request line and headers must arrive within `header_timeout_s` (408) and fit in
`max_header_bytes` (431). Beyond `max_connections` open connections a request is answered 503.

Explanations (inference.explain_serving) run outside the batcher, at most
`max_concurrent_explanations` at a time (429 with Retry-After beyond), each within
`explain_deadline_s` (503 after; below the drain like the request deadline) and over at most
`max_explain_rows` inputs (413 beyond).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

ENVIRONMENT = {
    "model_dir": "SM_MODEL_DIR",
    "port": "SAGEMAKER_BIND_TO_PORT",
    "host": "INFERENCE_HOST",
    "workers": "SAGEMAKER_MODEL_SERVER_WORKERS",
    "max_payload_mb": "SAGEMAKER_MAX_PAYLOAD_IN_MB",
    "max_batch_size": "INFERENCE_MAX_BATCH_SIZE",
    "max_batch_delay_ms": "INFERENCE_MAX_BATCH_DELAY_MS",
    "adaptive_batch_wait_ms": "INFERENCE_ADAPTIVE_BATCH_WAIT_MS",
    "num_threads": "INFERENCE_NUM_THREADS",
    "max_rows_per_request": "INFERENCE_MAX_ROWS_PER_REQUEST",
    "request_deadline_s": "INFERENCE_REQUEST_DEADLINE_S",
    "header_timeout_s": "INFERENCE_HEADER_TIMEOUT_S",
    "max_header_bytes": "INFERENCE_MAX_HEADER_BYTES",
    "max_connections": "INFERENCE_MAX_CONNECTIONS",
    "max_concurrent_explanations": "INFERENCE_MAX_CONCURRENT_EXPLANATIONS",
    "explain_deadline_s": "INFERENCE_EXPLAIN_DEADLINE_S",
    "max_explain_rows": "INFERENCE_MAX_EXPLAIN_ROWS",
}


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable or flag."""


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServeSettings:
    model_dir: Path = Path("/opt/ml/model")
    port: int = 8080
    host: str = "0.0.0.0"
    workers: int = 1
    max_payload_mb: float = 6.0
    max_batch_size: int = 32
    max_batch_delay_ms: float = 0.0
    adaptive_batch_wait_ms: float = 10.0
    num_threads: int = 0  # 0: CPUs / workers
    max_rows_per_request: int = 1024
    # Below the drain (graceful_timeout_s) and SageMaker's 60 s limit on a container's answer
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html);
    # SageMaker stops a container with SIGTERM, then SIGKILL 30 s later
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html).
    request_deadline_s: float = 20.0
    header_timeout_s: float = 10.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1000
    # One explanation at a time: integrated gradients on the CNN is ~32 forward and backward passes a
    # row, on one core; the other cores stay with the prediction path.
    max_concurrent_explanations: int = 1
    explain_deadline_s: float = 15.0
    max_explain_rows: int = 8
    graceful_timeout_s: float = 25.0  # SageMaker kills the container 30 s after SIGTERM

    @property
    def max_payload_bytes(self) -> int:
        return int(self.max_payload_mb * 1024 * 1024)

    @property
    def threads(self) -> int:
        return self.num_threads or max(1, cpu_count() // self.workers)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServeSettings:
        """Defaults, then the environment, then `overrides` (flags; None means not given)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = ENVIRONMENT.get(field.name)
            if name and env.get(name, "").strip():
                values[field.name] = _convert(field.name, env[name].strip(), name)
        for key, value in overrides.items():
            if value is not None:
                values[key] = _convert(key, str(value), "--" + key.replace("_", "-"))
        settings = replace(cls(), **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        checks = {
            "port": 0 < self.port < 65536,
            "workers": self.workers >= 1,
            "max_payload_mb": self.max_payload_mb > 0,
            "max_batch_size": 1 <= self.max_batch_size <= 1024,
            "max_batch_delay_ms": 0 <= self.max_batch_delay_ms <= 1000,
            "adaptive_batch_wait_ms": 0 <= self.adaptive_batch_wait_ms <= 1000,
            "num_threads": self.num_threads >= 0,
            "max_rows_per_request": 1 <= self.max_rows_per_request <= 1_000_000,
            # every request ends (answered, or 408/503) before the drain after SIGTERM does
            "request_deadline_s": 0 < self.request_deadline_s < self.graceful_timeout_s,
            "header_timeout_s": 0 < self.header_timeout_s <= 600,
            "max_header_bytes": 1024 <= self.max_header_bytes <= 16 * 1024 * 1024,
            "max_connections": self.max_connections >= 1,
            "max_concurrent_explanations": 1 <= self.max_concurrent_explanations <= 64,
            "explain_deadline_s": 0 < self.explain_deadline_s < self.graceful_timeout_s,
            "max_explain_rows": 1 <= self.max_explain_rows <= 1024,
        }
        hints = {
            "request_deadline_s": f"; it must be above 0 and below the drain after SIGTERM "
            f"({self.graceful_timeout_s:g} s)",
            "explain_deadline_s": f"; it must be above 0 and below the drain after SIGTERM "
            f"({self.graceful_timeout_s:g} s)",
        }
        for key, ok in checks.items():
            if not ok:
                hint = hints.get(key, "")
                raise SettingsError(f"{ENVIRONMENT.get(key, key)}: {getattr(self, key)} is out of range{hint}")

    def to_env(self) -> dict[str, str]:
        """The same settings as environment variables, for worker processes."""
        return {ENVIRONMENT[k]: str(v) for k, v in asdict(self).items() if k in ENVIRONMENT}


def _convert(key: str, text: str, source: str) -> Any:
    kind = {f.name: f.type for f in fields(ServeSettings)}[key]
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "Path":
            return Path(text)
        return text
    except ValueError:
        raise SettingsError(f"{source}: {text!r} is not a valid {kind}") from None
