"""Replay a real arrival process open-loop against a server: each request leaves at its (time-scaled)
timestamp from the trace whether or not earlier ones were answered.

No established generator replays a list of timestamps (httperf, tsung and wrk-style tools draw
arrivals from a distribution), so this is a small asyncio client. Coordinated omission is handled by
construction: a request's latency is measured from the moment the trace says it should have been
sent, so any lag of the client itself counts against the server rather than hiding a queue; the lag is
recorded too, and a run whose p99 send lag exceeds 10 ms is flagged.
"""

from __future__ import annotations

import asyncio
import csv
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np


@dataclass
class Sent:
    intended: float  # seconds from the start of the replay
    lag: float  # how late the client sent it
    latency: float  # answer time minus intended time (seconds); inf when no answer
    status: int  # HTTP status; 0 when no answer


def read_arrivals(path: Path) -> np.ndarray:
    """Seconds from the first request of a one-row-per-request trace (`TIMESTAMP,...`)."""
    with Path(path).open(newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        times = [datetime.fromisoformat(row[0][:26]).timestamp() for row in rows if row]
    arrivals = np.sort(np.asarray(times))
    return arrivals - arrivals[0]


def time_scaled(arrivals: np.ndarray, mean_rps: float, max_seconds: float) -> np.ndarray:
    """The arrivals compressed (or stretched) to `mean_rps`, cut at `max_seconds`."""
    factor = mean_rps * float(arrivals[-1]) / len(arrivals)
    scaled = arrivals / factor
    return scaled[scaled < max_seconds]


async def _one(
    host: str, port: int, request: bytes, intended: float, start: float, out: list[Sent], timeout: float
) -> None:
    delay = start + intended - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    lag = time.perf_counter() - start - intended
    status = 0
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(head.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await asyncio.wait_for(reader.readexactly(length), timeout)
        writer.close()
        latency = time.perf_counter() - start - intended
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        latency = float("inf")
    out.append(Sent(intended, lag, latency, status))


async def _replay(
    host: str, port: int, path: str, body: bytes, content_type: str, schedule: np.ndarray, timeout: float
) -> list[Sent]:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    out: list[Sent] = []
    start = time.perf_counter() + 0.5
    await asyncio.gather(*(_one(host, port, request, float(t), start, out, timeout) for t in schedule))
    return sorted(out, key=lambda s: s.intended)


def replay(
    host: str, port: int, path: str, body: bytes, content_type: str, schedule: np.ndarray, timeout: float = 10.0
) -> list[Sent]:
    return asyncio.run(_replay(host, port, path, body, content_type, schedule, timeout))


def summarise(sent: list[Sent], slo_ms: float, knee_rps: float, window_s: float = 60.0) -> dict:
    """Measured p50/p99/errors next to what the planner's model predicts: a window is over capacity
    when its arrival rate exceeds the knee; the model predicts p99 within the SLO in every other one."""
    latency = np.asarray([s.latency for s in sent]) * 1000
    ok = np.asarray([200 <= s.status < 300 for s in sent])
    intended = np.asarray([s.intended for s in sent])
    windows = []
    for w in range(int(intended.max() // window_s) + 1):
        mask = (intended >= w * window_s) & (intended < (w + 1) * window_s)
        if mask.sum() < 10:
            continue
        span = min(window_s, float(intended.max()) - w * window_s) or window_s
        rate = float(mask.sum()) / span
        windows.append(
            {
                "window": w,
                "rps": round(rate, 1),
                "predicted_over_capacity": rate > knee_rps,
                "p99_ms": round(float(np.percentile(latency[mask], 99)), 1),
                "errors": int((~ok[mask]).sum()),
            }
        )
    measured_over = [w["p99_ms"] > slo_ms or w["errors"] > 0 for w in windows]
    lag_ms = np.asarray([s.lag for s in sent]) * 1000
    return {
        "requests": len(sent),
        "seconds": round(float(intended.max()), 1),
        "mean_rps": round(len(sent) / max(float(intended.max()), 1e-9), 1),
        "p50_ms": round(float(np.percentile(latency, 50)), 1),
        "p99_ms": round(float(np.percentile(latency, 99)), 1),
        "errors": int((~ok).sum()),
        "client_lag_p99_ms": round(float(np.percentile(lag_ms, 99)), 1),
        "client_kept_schedule": bool(np.percentile(lag_ms, 99) <= 10.0),
        "windows": len(windows),
        "windows_predicted_over_capacity": sum(w["predicted_over_capacity"] for w in windows),
        "windows_measured_over_slo": sum(measured_over),
        "model_agrees": sum(w["predicted_over_capacity"] == m for w, m in zip(windows, measured_over, strict=True)),
        "per_window": windows,
    }
