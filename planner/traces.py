"""Request-rate traces: read a CSV (timestamp,count per interval; or one row per request) into a
per-minute series of requests, and scale it so its peak needs a stated number of instances."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

MINUTE = 60.0


class TraceError(ValueError):
    """A trace file that cannot be read; the message names the file and the row."""


@dataclass(frozen=True)
class Trace:
    """Requests per minute, one value per minute from `start` (UTC, epoch seconds)."""

    name: str
    start: float
    per_minute: np.ndarray

    @property
    def minutes(self) -> int:
        return len(self.per_minute)

    @property
    def weeks(self) -> float:
        return self.minutes / (7 * 24 * 60)

    def scaled_to_peak(self, peak_per_minute: float) -> Trace:
        peak = float(self.per_minute.max())
        if peak <= 0:
            raise TraceError(f"{self.name}: the trace has no traffic to scale")
        return Trace(self.name, self.start, self.per_minute * (peak_per_minute / peak))

    def minute_of_week(self) -> np.ndarray:
        """Minute within the UTC week (Monday 00:00 = 0) of each value."""
        first = datetime.fromtimestamp(self.start, UTC)
        offset = first.weekday() * 1440 + first.hour * 60 + first.minute
        return (offset + np.arange(self.minutes)) % (7 * 1440)


def _timestamp(text: str, path: Path, row: int) -> float:
    text = text.strip()
    try:
        value = float(text)  # epoch seconds
        return value
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text[:26] if "." in text else text)
    except ValueError as exc:
        raise TraceError(f"{path}: row {row}: {text!r} is neither an ISO timestamp nor epoch seconds") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def from_counts(name: str, times: np.ndarray, counts: np.ndarray) -> Trace:
    """Counts per interval (interval = gap to the next timestamp, the median gap for the last one),
    spread evenly over the minutes of each interval."""
    order = np.argsort(times)
    times, counts = times[order], counts[order]
    if len(times) < 2:
        raise TraceError(f"{name}: needs at least two rows")
    gaps = np.diff(times)
    step = float(np.median(gaps))
    start = float(np.floor(times[0] / MINUTE) * MINUTE)
    end = times[-1] + step
    n = int(np.ceil((end - start) / MINUTE))
    out = np.zeros(n)
    edges = np.append(times, end)
    for i, count in enumerate(counts):
        a = int((edges[i] - start) // MINUTE)
        b = max(a + 1, int(np.ceil((edges[i + 1] - start) / MINUTE)))
        out[a:b] += count / (b - a)
    return Trace(name, start, out)


def from_arrivals(name: str, arrivals: np.ndarray) -> Trace:
    """One timestamp per request -> requests per minute."""
    arrivals = np.sort(arrivals)
    start = float(np.floor(arrivals[0] / MINUTE) * MINUTE)
    n = int((arrivals[-1] - start) // MINUTE) + 1
    return Trace(name, start, np.bincount(((arrivals - start) // MINUTE).astype(int), minlength=n).astype(float))


def read_csv(path: Path) -> Trace:
    """`timestamp,value` rows (a count per interval, as the NAB files and a CloudWatch export have) or,
    when the header has no value column (the Azure file: TIMESTAMP,ContextTokens,...), one row per request."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: no such trace file")
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if not header or header[0] != "timestamp":
            raise TraceError(f"{path}: the first column must be 'timestamp' (found {header[:1]})")
        per_request = "value" not in header and "count" not in header
        column = None if per_request else header.index("value" if "value" in header else "count")
        times, counts = [], []
        for row_number, row in enumerate(reader, start=2):
            if not row:
                continue
            times.append(_timestamp(row[0], path, row_number))
            if column is not None:
                try:
                    counts.append(float(row[column]))
                except (ValueError, IndexError) as exc:
                    raise TraceError(f"{path}: row {row_number}: no numeric value in column {column + 1}") from exc
    if not times:
        raise TraceError(f"{path}: no rows")
    name = path.stem
    if per_request:
        return from_arrivals(name, np.asarray(times))
    counts_array = np.asarray(counts)
    if (counts_array < 0).any():
        raise TraceError(f"{path}: negative counts")
    return from_counts(name, np.asarray(times), counts_array)
