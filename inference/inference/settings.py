"""Server settings: SageMaker's environment variables, overridden by command-line flags.

The table below, the flags' help and the defaults all come from `ServeSettings` and `DESCRIPTIONS`:

{table}

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
`max_explain_rows` inputs (413 beyond). Their path loads after `/ping` answers 200; a request that
comes before it is loaded waits for it within `explain_deadline_s` (503 `explanation_loading` after).
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
    "inline_decode_bytes": "INFERENCE_INLINE_DECODE_BYTES",
    "request_deadline_s": "INFERENCE_REQUEST_DEADLINE_S",
    "header_timeout_s": "INFERENCE_HEADER_TIMEOUT_S",
    "max_header_bytes": "INFERENCE_MAX_HEADER_BYTES",
    "max_connections": "INFERENCE_MAX_CONNECTIONS",
    "max_concurrent_explanations": "INFERENCE_MAX_CONCURRENT_EXPLANATIONS",
    "explain_deadline_s": "INFERENCE_EXPLAIN_DEADLINE_S",
    "max_explain_rows": "INFERENCE_MAX_EXPLAIN_ROWS",
    "model_process": "INFERENCE_MODEL_PROCESS",
}


# Measured on the 2-vCPU serving instance (benchmarks/results/serve.json, raw by_threads): the CNN
# at batch 1 and 8 is faster on 1 thread (12.1 ms p50 / 19 ms p99 vs 12.6 / 746 ms; 163 vs 124
# items/s) and slower at 32 and 64 (199 vs 273, 223 vs 380 items/s). Small convolutions do not repay
# the fork/join of a parallel region, and the second core stays free for the event loop (HTTP,
# decoding) and whatever else runs on the machine.
# torch runs batches below this many rows on one intra-op thread (inference.models). Here, not in
# inference.models, so that the serving benchmark reads it without importing server code.
SMALL_BATCH_ROWS = 16

# What each setting is, for the flags' help and the table in this module's docstring; each default is
# written once, in ServeSettings. (label in the table, help text, what a zero or the limit means)
DESCRIPTIONS: dict[str, tuple[str, str, str]] = {
    "model_dir": ("model directory", "model artifact folder", ""),
    "port": ("port", "port", ""),
    "host": ("host", "address to bind", ""),
    "workers": ("worker processes", "worker processes", ""),
    "max_payload_mb": ("payload limit (MiB)", "body limit in MiB", ""),
    "max_batch_size": ("max batch (rows)", "rows per forward pass", ""),
    "max_batch_delay_ms": ("max batch wait (ms)", "always wait up to this long for a full batch", "0: off"),
    "adaptive_batch_wait_ms": (
        "adaptive wait (ms)",
        "wait up to this long for a fuller batch when under load",
        "0: off",
    ),
    "num_threads": ("framework threads", "framework threads", ""),
    "max_rows_per_request": ("rows per request", "inputs one request may hold", "413 beyond"),
    "inline_decode_bytes": (
        "inline decode (bytes)",
        "one small PNG/JPEG/WAV body up to this size is decoded on the event loop; the rest in a thread",
        "0: every body in a thread",
    ),
    "request_deadline_s": (
        "request deadline (s)",
        "seconds from a request's headers to its answer",
        "408 or 503 beyond; below the drain after SIGTERM",
    ),
    "header_timeout_s": ("header timeout (s)", "seconds to receive the request line and headers", "408 beyond"),
    "max_header_bytes": ("header size (bytes)", "request line and headers", "431 beyond"),
    "max_connections": ("connections", "open connections", "503 beyond"),
    "max_concurrent_explanations": ("explanations at once", "explanations at once", "429 beyond"),
    "explain_deadline_s": ("explanation deadline (s)", "seconds per explanation request", "503 beyond"),
    "max_explain_rows": ("rows per explanation", "inputs per explanation request", "413 beyond"),
    "model_process": (
        "forward pass in its own process",
        "1: a child process owns the model and runs the batches (inference.forward_process)",
        "0: the model thread of this process",
    ),
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
    # benchmarks/results/serve_regression.md: the hop to a decode thread and back added two GIL hand-overs
    # per request (MLP at concurrency 1: 218 req/s where it did 701); the slowest body the header
    # bounds (inference.decoding) let onto the loop decodes in about a millisecond.
    inline_decode_bytes: int = 64 * 1024
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
    # docs/serving-performance.md: measured against the default (0) with benchmarks/serve_duel.py.
    model_process: int = 0
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
            "inline_decode_bytes": 0 <= self.inline_decode_bytes <= 1024 * 1024,
            # every request ends (answered, or 408/503) before the drain after SIGTERM does
            "request_deadline_s": 0 < self.request_deadline_s < self.graceful_timeout_s,
            "header_timeout_s": 0 < self.header_timeout_s <= 600,
            "max_header_bytes": 1024 <= self.max_header_bytes <= 16 * 1024 * 1024,
            "max_connections": self.max_connections >= 1,
            "max_concurrent_explanations": 1 <= self.max_concurrent_explanations <= 64,
            "explain_deadline_s": 0 < self.explain_deadline_s < self.graceful_timeout_s,
            "max_explain_rows": 1 <= self.max_explain_rows <= 1024,
            "model_process": self.model_process in (0, 1),
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


def default_text(name: str) -> str:
    value = getattr(ServeSettings(), name)
    if name == "num_threads" and not value:
        return "CPUs / workers"
    return f"{value:g}" if isinstance(value, float) else str(value)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def flag_help(name: str) -> str:
    """`--flag` help: what it is, its variable, its default and what its limit means."""
    _, what, note = DESCRIPTIONS[name]
    variable = f"{ENVIRONMENT[name]}, " if name in ENVIRONMENT else ""
    return f"{what} ({variable}default {default_text(name)}{'; ' + note if note else ''})"


def settings_table() -> str:
    rows = [("setting", "variable", "flag", "default")]
    rows += [
        (label, f"`{ENVIRONMENT[name]}`", f"`{flag(name)}`", default_text(name))
        for name, (label, _, _) in DESCRIPTIONS.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


__doc__ = __doc__.replace("{table}", settings_table())
