"""Cold start of the serving images: what a new copy of a model costs once its instance exists.

`make bench-coldstart` (after building the two serving images) measures, per image (the CNN on
`inference-pytorch`, the MLP on `inference-tensorflow`), on real-size artifacts (`serve_artifacts`):

1. start, with the image present: `docker run -d` as SageMaker runs it (`serve`, read-only root, a
   tmpfs /tmp, the model mounted read-only at /opt/ml/model) -> the first 200 from `/ping` -> the first
   correct invocation (200, one prediction over the model's classes, probabilities summing to 1, the
   same label in every run); `--runs` times, each container removed before the next;
2. the server's own model-load time, from its log line ("model loaded in ... s"), in the same runs,
   and the explanation path's, which loads after `/ping` answers ("explanation path loaded in ... s");
3. the pull's stand-in: `docker save` once into a tarball, then `docker load` of it into an empty
   Docker engine (a second `dockerd` with its own data root, started and stopped here, so every layer
   is really written), `--runs` times. The tarball's gzip size is what a registry would send (docker
   push gzips each layer).

Medians and spreads (min-max) go to benchmarks/results/coldstart-<date>.md and .json, with the
machine's load average before and after: the machine is shared, so these are upper figures.
docs/cold-start.md sets them beside what AWS documents for scaling from zero.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from inference.readiness import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TARGET_FIRST_INVOCATION_S = 3.0
IMAGES = {"cnn": "inference-pytorch", "mlp": "inference-tensorflow"}
BODIES = {"cnn": ("image.png", "image/png"), "mlp": ("audio.wav", "audio/wav")}
LOAD_LINE = re.compile(r"model loaded in ([\d.]+) s \(framework import, model and warm-up ([\d.]+) s")
# The explanation path loads after /ping answers (inference.explain_serving.BackgroundExplainer).
EXPLANATION_LINE = re.compile(r"explanation path loaded in ([\d.]+) s")
EXPLANATION_WAIT_S = 60.0


def log(message: str) -> None:
    print(f"[coldstart] {message}", file=sys.stderr, flush=True)


def docker(*args: str, engine: str | None = None, timeout_s: float = 900) -> subprocess.CompletedProcess[str]:
    command = ["docker", *(["-H", engine] if engine else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}: {result.stderr[-2000:]}")
    return result


def spread(values: list[float]) -> dict[str, float]:
    values = [value for value in values if value == value] or [float("nan")]  # NaN: not measured in that run
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- 1 and 2: docker run -> /ping -> first invocation ---------------------------------------------


@dataclass
class StartRun:
    run_s: float  # `docker run -d` returned: the container is started
    ping_s: float  # the first 200 from /ping
    first_invocation_s: float  # the first correct answer to /invocations
    cpu_s: float  # CPU time the container used until the first answer (its cgroup): the load-free figure
    model_load_s: float  # the server's own figure, from its log
    framework_and_model_s: float
    explanation_path_s: float
    label: str


def wait_for_ping(url: str, container: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.01)
    logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True).stderr
    raise RuntimeError(f"/ping did not answer 200 within {deadline_s} s:\n{logs[-3000:]}")


def invoke(url: str, body: bytes, content_type: str, classes: list[str]) -> str:
    request = urllib.request.Request(
        url + "/invocations", data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200, response.status
        answer = json.loads(response.read())
    (prediction,) = answer["predictions"]
    probabilities = prediction["probabilities"]
    if len(probabilities) != len(classes) or abs(sum(probabilities) - 1) > 1e-3 or prediction["label"] not in classes:
        raise RuntimeError(f"not a correct answer: {answer}")
    return prediction["label"]


def start_once(image: str, model_dir: Path, body: bytes, content_type: str, classes: list[str]) -> StartRun:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name = f"coldstart-{os.getpid()}-{port}"
    started = time.monotonic()
    container_id = docker(
        "run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "-p", f"127.0.0.1:{port}:8080",
        "-v", f"{model_dir}:/opt/ml/model:ro", image, "serve",
    ).stdout.strip()  # fmt: skip
    run_s = time.monotonic() - started
    try:
        wait_for_ping(url, name, deadline_s=300)
        ping_s = time.monotonic() - started
        label = invoke(url, body, content_type, classes)
        first_s = time.monotonic() - started
        cpu_s = container_cpu_s(container_id)
        text = container_log(name, EXPLANATION_LINE, EXPLANATION_WAIT_S)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    found = LOAD_LINE.search(text)
    if found is None:
        raise RuntimeError(f"{image}: no 'model loaded in' line in the server's log:\n{text[-3000:]}")
    load, framework = (float(x) for x in found.groups())
    explained = EXPLANATION_LINE.search(text)
    explanation = float(explained.group(1)) if explained else float("nan")
    return StartRun(run_s, ping_s, first_s, cpu_s, load, framework, explanation, label)


def container_log(name: str, wanted: re.Pattern[str], wait_s: float) -> str:
    """The container's log once it shows `wanted` (the explanation path's line, written after the first
    answer), or after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
        text = logs.stdout + logs.stderr
        if wanted.search(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def container_cpu_s(container_id: str) -> float:
    """CPU seconds the container's processes have used (cgroup v1 cpuacct, or v2 cpu.stat); NaN if
    neither is readable. On a shared machine the wall time grows with the load; this does not."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.is_file():
        return int(v1.read_text()) / 1e9
    for v2 in (Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat"),):
        if v2.is_file():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
    return float("nan")


# --- 3: docker save, then docker load into an empty engine ----------------------------------------


# The empty engine's own bridge. Never `--bridge none`: a dockerd started with it deletes the host's
# `docker0`, the machine engine's default bridge (libnetwork's removeDefaultBridgeInterface), which
# breaks every container that engine starts afterwards.
BRIDGE = "csbench0"
BRIDGE_ADDRESS = "10.213.77.1/24"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


class EmptyEngine:
    """A second Docker engine with its own (empty) data root, reached on its own socket, on a bridge of
    its own and with no iptables rules, so it changes nothing of the machine's engine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = f"unix://{root}/docker.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self.bridge_made = False
        self.docker0 = False

    def __enter__(self) -> EmptyEngine:
        if not shutil.which("dockerd") or not shutil.which("ip") or os.geteuid() != 0:
            raise RuntimeError("a second engine needs dockerd, ip and root")
        self.root.mkdir(parents=True, exist_ok=True)
        self.docker0 = _ip("link", "show", "docker0").returncode == 0
        if _ip("link", "show", BRIDGE).returncode != 0:
            for args in (
                ("link", "add", "name", BRIDGE, "type", "bridge"),
                ("addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE),
                ("link", "set", BRIDGE, "up"),
            ):
                done = _ip(*args)
                if done.returncode != 0:
                    raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
            self.bridge_made = True
        with open(self.root / "dockerd.log", "wb") as out:
            self.process = subprocess.Popen(
                [
                    "dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                    "--pidfile", str(self.root / "dockerd.pid"), "-H", self.socket, "--bridge", BRIDGE,
                    "--iptables=false", "--ip-masq=false", "--containerd-namespace", "coldstart",
                    "--containerd-plugins-namespace", "coldstart-plugins",
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        for _ in range(300):
            if subprocess.run(["docker", "-H", self.socket, "info"], capture_output=True).returncode == 0:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"the empty engine did not start: {(self.root / 'dockerd.log').read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.bridge_made:
            _ip("link", "delete", BRIDGE)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.docker0 and _ip("link", "show", "docker0").returncode != 0:
            raise RuntimeError("docker0 disappeared while the empty engine ran: the machine's engine needs it")

    def load(self, tarball: Path) -> float:
        started = time.monotonic()
        docker("load", "-i", str(tarball), engine=self.socket)
        seconds = time.monotonic() - started
        docker("image", "prune", "-af", engine=self.socket)  # empty again for the next run
        return seconds


def gzip_size(path: Path) -> int:
    """Bytes of `path` gzipped at level 6 (what docker push does to each layer, in one stream here)."""
    with open(path, "rb") as source, tempfile.TemporaryFile() as sink:
        with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6) as stream:
            while chunk := source.read(1 << 22):
                stream.write(chunk)
        return sink.tell()


# --- the benchmark --------------------------------------------------------------------------------


@dataclass
class ImageResult:
    model: str
    image: str
    image_mb: float
    start_runs: list[StartRun] = field(default_factory=list)
    save_s: float = 0.0
    tarball_mb: float = 0.0
    tarball_gzip_mb: float = 0.0
    load_runs_s: list[float] = field(default_factory=list)
    load_note: str = ""

    def summary(self) -> dict[str, Any]:
        runs = self.start_runs
        out: dict[str, Any] = {
            "model": self.model,
            "image": self.image,
            "image_mb": self.image_mb,
            "docker_run_s": spread([r.run_s for r in runs]),
            "ping_s": spread([r.ping_s for r in runs]),
            "first_invocation_s": spread([r.first_invocation_s for r in runs]),
            "cpu_to_first_invocation_s": spread([r.cpu_s for r in runs]),
            "model_load_s": spread([r.model_load_s for r in runs]),
            "framework_and_model_s": spread([r.framework_and_model_s for r in runs]),
            "explanation_path_s": spread([r.explanation_path_s for r in runs]),
            "labels": sorted({r.label for r in runs}),
            "save_s": round(self.save_s, 2),
            "tarball_mb": self.tarball_mb,
            "tarball_gzip_mb": self.tarball_gzip_mb,
            "load_note": self.load_note,
        }
        if self.load_runs_s:
            out["docker_load_s"] = spread(self.load_runs_s)
        return out


def build_artifacts(workdir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "benchmarks.serve_artifacts", str(workdir)],
        check=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure(
    model: str, image: str, workdir: Path, runs: int, engine: EmptyEngine | None, engine_error: str
) -> ImageResult:
    model_dir = workdir / model
    classes = json.loads((model_dir / "manifest.json").read_text())["class_names"]
    filename, content_type = BODIES[model]
    body = (workdir / filename).read_bytes()
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout.strip())
    result = ImageResult(model, image, round(size / 1e6))
    for i in range(runs):
        run = start_once(image, model_dir, body, content_type, classes)
        result.start_runs.append(run)
        log(
            f"{image} run {i + 1}: docker run {run.run_s:.2f} s, /ping {run.ping_s:.2f} s, first invocation "
            f"{run.first_invocation_s:.2f} s (CPU {run.cpu_s:.2f} s; model load {run.model_load_s:.2f} s), "
            f"load average {loadavg()}"
        )
    if len({r.label for r in result.start_runs}) != 1:
        raise RuntimeError(f"{image}: the runs disagree on the label: {[r.label for r in result.start_runs]}")
    tarball = workdir / f"{model}.tar"
    started = time.monotonic()
    docker("save", "-o", str(tarball), image)
    result.save_s = time.monotonic() - started
    result.tarball_mb = round(tarball.stat().st_size / 1e6)
    result.tarball_gzip_mb = round(gzip_size(tarball) / 1e6)
    if engine is None:
        result.load_note = f"docker load not measured: {engine_error}"
    else:
        for i in range(runs):
            result.load_runs_s.append(engine.load(tarball))
            log(f"{image} docker load {i + 1}: {result.load_runs_s[-1]:.2f} s, load average {loadavg()}")
    tarball.unlink()
    return result


def fmt(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} s ({s['min']:.2f}-{s['max']:.2f})"


def report(results: list[ImageResult], meta: dict[str, Any]) -> str:
    lines = [
        f"# Serving cold start, {meta['date']}",
        "",
        f"Command: `{meta['command']}`. Machine: {meta['machine']}; {meta['cpus']} cores, shared with other "
        f"engineers' jobs (tests, builds, benchmarks) while this ran: load average {meta['load_before']} "
        f"before, {meta['load_after']} after (1, 5, 15 min). Figures are upper figures for an idle 2-vCPU "
        f"instance. {meta['runs']} runs each; median (min-max). The page cache was warm after the first run "
        "(the image's files stay in memory); a new instance reads them from its volume.",
        "",
        "Start, with the image present: `docker run -d --read-only --tmpfs /tmp -p 127.0.0.1:PORT:8080 "
        "-v MODEL:/opt/ml/model:ro IMAGE serve`, then `/ping` polled every 10 ms, then one request (the "
        "benchmark's PNG for the CNN, its 1 s WAV for the MLP) that must come back correct. Real-size "
        "artifacts (`benchmarks/serve_artifacts.py`, the training defaults). Model load is the server's "
        "own log line (framework import, model load and warm-up passes); the explanation path loads after "
        "`/ping` answers, in the background (its own log line, waited for up to "
        f"{EXPLANATION_WAIT_S:g} s after the first invocation).",
        "",
        f"| image | size | `docker run` returns | `/ping` 200 | first correct invocation | target <= "
        f"{TARGET_FIRST_INVOCATION_S:g} s | container CPU time until then | model load (server) | of which "
        "framework + model + warm-up | explanation path (after `/ping`) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.summary()
        met = "met" if s["first_invocation_s"]["median"] <= TARGET_FIRST_INVOCATION_S else "not met"
        lines.append(
            f"| `{r.image}` ({r.model}) | {r.image_mb:,.0f} MB | {fmt(s['docker_run_s'])} | {fmt(s['ping_s'])} | "
            f"{fmt(s['first_invocation_s'])} | {met} | {fmt(s['cpu_to_first_invocation_s'])} | "
            f"{fmt(s['model_load_s'])} | {fmt(s['framework_and_model_s'])} | {fmt(s['explanation_path_s'])} |"
        )
    lines += [
        "",
        "The pull's stand-in: `docker save` once, then `docker load -i` of that tarball into an empty Docker "
        "engine (a second `dockerd` with its own data root), so that every layer is written; the gzip size "
        "is about what a registry sends (docker push gzips each layer).",
        "",
        "| image | tarball | gzip -6 | `docker save` | `docker load` into an empty engine |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        s = r.summary()
        load = fmt(s["docker_load_s"]) if "docker_load_s" in s else s["load_note"]
        lines.append(
            f"| `{r.image}` | {r.tarball_mb:,.0f} MB | {r.tarball_gzip_mb:,.0f} MB | {r.save_s:.1f} s | {load} |"
        )
    lines += [
        "",
        "The container's CPU time (its cgroup's `cpuacct.usage` at the first answer) does not grow with the "
        "machine's load as the wall times do: the start is mostly one Python thread importing and loading, "
        "so on an idle 2-vCPU instance the first invocation would come after between half that (both cores "
        "busy throughout) and about that many seconds.",
    ]
    lines += ["", "Each run:", "", "| image | run | `docker run` | `/ping` | first invocation | CPU | model load |"]
    lines.append("|---|---|---|---|---|---|---|")
    for r in results:
        for i, run in enumerate(r.start_runs, 1):
            lines.append(
                f"| `{r.image}` | {i} | {run.run_s:.2f} s | {run.ping_s:.2f} s | {run.first_invocation_s:.2f} s | "
                f"{run.cpu_s:.2f} s | {run.model_load_s:.2f} s |"
            )
    lines += [
        "",
        "What AWS documents about scaling an endpoint or inference component from zero (instance "
        "provisioning, image pull, model download), and how these figures fit into it: "
        "[docs/cold-start.md](../../docs/cold-start.md).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-prefix", default=os.environ.get("IMAGE_PREFIX", "elasticml"))
    parser.add_argument("--tag", default=os.environ.get("IMAGE_TAG", "local"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=list(IMAGES), choices=list(IMAGES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    # SIGTERM (and SIGINT, ignored in a background job) end it through `finally`: the empty engine stops.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(143))
    today = date.today().isoformat()
    meta = {
        "date": today,
        "command": " ".join(["python -m benchmarks.coldstart_bench", *(sys.argv[1:] if argv is None else argv)]),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "runs": args.runs,
        "load_before": loadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        workdir = Path(tmp)
        log("exporting real-size artifacts (benchmarks.serve_artifacts)")
        build_artifacts(workdir)
        os.chmod(workdir, 0o755)  # the image's user (uid 1000) reads the mounted model
        engine_error = ""
        engine: EmptyEngine | None = EmptyEngine(workdir / "engine")
        try:
            engine.__enter__()
        except RuntimeError as error:
            engine, engine_error = None, str(error)
            log(f"docker load will not be measured: {error}")
        try:
            results = [
                measure(m, f"{args.image_prefix}-{IMAGES[m]}:{args.tag}", workdir, args.runs, engine, engine_error)
                for m in args.models
            ]
        finally:
            if engine is not None:
                engine.__exit__()
    meta["load_after"] = loadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"coldstart-{today}.md").write_text(report(results, meta))
    (args.out / f"coldstart-{today}.json").write_text(
        json.dumps(
            {"meta": meta, "results": [r.summary() | {"runs": [asdict(x) for x in r.start_runs]} for r in results]},
            indent=2,
        )
        + "\n"
    )
    for r in results:
        print(json.dumps(r.summary()))
    log(f"wrote {args.out / f'coldstart-{today}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
