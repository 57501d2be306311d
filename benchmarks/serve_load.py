"""HTTP load through `hey` (an established load generator), and the servers it is pointed at.

`hey -z SECONDS -c CONCURRENCY [-q PER_WORKER_QPS] -m POST -T TYPE -D BODY URL` keeps CONCURRENCY
requests in flight (closed loop) for SECONDS; with `-q` each worker is paced, which makes a target
rate. `parse_hey` reads its summary: duration, the latency distribution, status codes and transport
errors. A request counts as an error when it got no response or a non-2xx status.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.readiness import NotReady, ServerExited, wait_until_healthy

SLOWEST = re.compile(r"^\s+Slowest:\s+([0-9.]+) secs", re.MULTILINE)
TOTAL = re.compile(r"^\s+Total:\s+([0-9.]+) secs", re.MULTILINE)
PERCENTILE = re.compile(r"^\s+(\d+)%+ in ([0-9.]+) secs", re.MULTILINE)
STATUS = re.compile(r"^\s+\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
ERROR_LINE = re.compile(r"^\s+\[(\d+)\]\s+(.+)$", re.MULTILINE)


@dataclass
class LoadResult:
    rps: float  # answered with 2xx per second (hey's own Requests/sec counts failures too)
    p50_ms: float
    p95_ms: float
    p99_ms: float
    ok: int
    errors: int
    status_codes: dict[str, int] = field(default_factory=dict)
    error_messages: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0  # CPU seconds hey itself used (user + system): its share of the 2 cores

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class LoadParseError(ValueError):
    """hey's output does not hold the figures (it failed, or its format changed)."""


def parse_hey(text: str) -> LoadResult:
    """The figures of one `hey` summary; raises LoadParseError when they are not there."""
    total = TOTAL.search(text)
    if total is None or float(total.group(1)) <= 0:
        raise LoadParseError(f"no 'Total: ... secs' in hey's output:\n{text[-2000:]}")
    percentiles = {int(q): float(s) * 1000 for q, s in PERCENTILE.findall(text) if int(q) > 0}
    status_section, _, error_section = text.partition("Error distribution:")
    statuses = {code: int(n) for code, n in STATUS.findall(status_section)}
    transport = [(int(n), message.strip()) for n, message in ERROR_LINE.findall(error_section)]
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    errors = sum(n for code, n in statuses.items() if not code.startswith("2")) + sum(n for n, _ in transport)
    slowest = SLOWEST.search(text)
    if ok and not {50, 95, 99} <= percentiles.keys():
        # With under ~100 answers hey prints "0% in 0.0000 secs" for its top rows: the slowest
        # answer bounds them from above.
        if slowest is None:
            raise LoadParseError(f"hey's latency distribution lacks 50/95/99%:\n{text[-2000:]}")
        for q in (50, 95, 99):
            percentiles.setdefault(q, float(slowest.group(1)) * 1000)
    nan = float("nan")
    return LoadResult(
        rps=ok / float(total.group(1)),
        p50_ms=percentiles.get(50, nan),
        p95_ms=percentiles.get(95, nan),
        p99_ms=percentiles.get(99, nan),
        ok=ok,
        errors=errors,
        status_codes=statuses,
        error_messages=[f"{n} x {m}" for n, m in transport][:5],
    )


def hey_command(
    url: str, body: Path, content_type: str, concurrency: int, seconds: float, rate: float | None = None
) -> list[str]:
    command = [
        "hey",
        "-z",
        f"{seconds:g}s",
        "-c",
        str(concurrency),
        "-t",
        "30",
        "-m",
        "POST",
        "-T",
        content_type,
        "-D",
        str(body),
    ]
    if rate is not None:
        command += ["-q", f"{rate / concurrency:.3f}"]
    return [*command, url]


def run_hey(
    url: str, body: Path, content_type: str, concurrency: int, seconds: float, rate: float | None = None
) -> LoadResult:
    command = hey_command(url, body, content_type, concurrency, seconds, rate)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise LoadParseError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-1000:]}")
    result = parse_hey(done.stdout)
    result.client_cpu_s = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
    return result


def multipart(
    body: bytes, filename: str, content_type: str, boundary: str = "serve-bench-boundary", field: str = "file"
) -> tuple[bytes, str]:
    """`body` as a multipart/form-data upload in the field `field`; returns (bytes, Content-Type)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + body + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def server_command(python: str, model_dir: Path, port: int, *options: str) -> list[str]:
    """The command that runs this tree's inference server on `model_dir`, on 127.0.0.1:`port`."""
    return [python, "-m", "inference", "serve", "--model-dir", str(model_dir), "--host", "127.0.0.1",
            "--port", str(port), *options]  # fmt: skip


class ServerProcess:
    """A server started here, ready once `health_url` answers 200; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        command: list[str],
        health_url: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.command, self.health_url, self.log_path = command, health_url, log_path
        self.env, self.cwd = env, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True
        )
        try:
            wait_until_healthy(self.process, self.health_url, timeout_s=180, poll_s=0.5)
        except ServerExited as exited:
            raise RuntimeError(
                f"{' '.join(self.command)} exited {exited.returncode}; "
                f"see {self.log_path}:\n{self.log_path.read_text()[-2000:]}"
            ) from exited
        except NotReady as late:
            self.__exit__()
            raise RuntimeError(f"{' '.join(self.command)} not ready in 180 s; see {self.log_path}") from late
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the server and the workers it forked
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:  # what is left of its group (a peer's helper processes outliving their parent, e.g. Ray's)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
