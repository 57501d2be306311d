"""`make bench-serve`: the inference server against the raw model and the serving peers, over HTTP.

For each model (the CNN on 32x32 PNG images, the MLP on one-second 8 kHz WAV clips), all in one run:
1. real-size artifacts written by the training package's own export functions (serve_artifacts);
2. the raw exported model in process at batch sizes 1, 8, 32, 64 (serve_raw): the physical reference;
3. `python -m inference serve` with its defaults, loaded by `hey` at concurrency 1, 8, 32, 64 with
   real PNG/WAV bodies, then more concurrency levels, bisected, for the highest throughput whose p99
   stays under the SLO: the figure written to benchmarks/serving_capacity.json for autoscaling;
4. the peers (benchmarks/peers.py: LitServe, Ray Serve, BentoML, TorchServe, KServe's Python model
   server, each from its own venv) serving the same artifact with the same body in their own API's form,
   each batched as its docs set it up, loaded by the same `hey` at concurrency 1, 8, 32; a peer that
   cannot run here is reported missing with the reason measured, and the run goes on;
5. explanations: prediction throughput and p99 at concurrency EXPLAIN_CONCURRENCY alone and with one
   integrated-gradients request a second in flight (benchmarks/explain_load.py; `--no-explain` skips).

    python -m benchmarks.serve_bench [--quick] [--seconds 12] [--models cnn mlp] [--peers litserve ray ...]

Writes benchmarks/results/serve.{json,md,png} and benchmarks/serving_capacity.json (not with
--quick, whose short points are for trying the script out). The load generator runs unpinned on the
same 2 cores as the server under test (no taskset: pinning either to one core would halve the
model's intra-op threads) and takes CPU from it; each point records hey's own CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from inference.readiness import free_port
from inference.settings import SMALL_BATCH_ROWS  # framework-free: this process loads no model

from benchmarks import explain_load, peers, serve_report
from benchmarks.peers import PEERS, Peer
from benchmarks.serve_load import LoadParseError, LoadResult, ServerProcess, run_hey, server_command
from shared_names import SERVING_CAPACITY_FILE

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CAPACITY_FILE = ROOT / SERVING_CAPACITY_FILE
CONCURRENCY = (1, 8, 32, 64)  # the server's sweep (64: the capacity search starts above 32)
PEER_CONCURRENCY = (1, 8, 32)
EXPLAIN_CONCURRENCY = 8
SLO_MS = 100.0
# What the figures stand for: the dev/prod serving instances are 2-vCPU CPU instances like this VM.
INSTANCE_TYPE = "ml.c5.large"
MODELS = {
    "cnn": {"body": "image.png", "type": "image/png"},
    "mlp": {"body": "audio.wav", "type": "audio/wav"},
}


def describe(name: str) -> str:
    """What the artifact under test is: the training defaults `serve_artifacts` builds it with."""
    from training.hyperparameters import parse_hyperparameters  # plain Python: no framework loads
    from training.recipe import with_default_recipe

    hp = parse_hyperparameters({"model": name})
    if name == "cnn":
        hp = with_default_recipe(hp)  # the width trained without a budget
        return (
            f"ImageClassifier(width={hp.width}) on {hp.image_size}x{hp.image_size} RGB PNG, torch.export, "
            "test-time flip on"
        )
    return (
        f"MFCC MLP ({hp.hidden_layers}x{hp.hidden_units}) on 1 s {hp.sample_rate // 1000} kHz 16-bit WAV, "
        "SavedModel `serve` (MFCC inside)"
    )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def python_env() -> dict[str, str]:
    """The children's environment: `training` and `inference` are installed (editable) in the venvs."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def build_artifacts(workdir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "benchmarks.serve_artifacts", str(workdir)],
        check=True,
        cwd=ROOT,
        env=python_env(),
        stdout=subprocess.DEVNULL,
    )


def raw_reference(model_dir: Path, threads: int, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.serve_raw",
            str(model_dir),
            "--threads",
            str(threads),
            "1",
            "--seconds",
            str(seconds),
            "--batches",
            *map(str, CONCURRENCY),
        ],
        check=True,
        cwd=ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def point(concurrency: int, result: LoadResult, **extra: Any) -> dict[str, Any]:
    return {"concurrency": concurrency, **result.as_dict(), **extra}


def sweep(
    url: str, body: Path, content_type: str, seconds: float, warmup: float, levels: tuple[int, ...] = CONCURRENCY
) -> list[dict[str, Any]]:
    run_hey(url, body, content_type, 8, warmup)  # warm-up, figures discarded
    points = []
    for c in levels:
        result = run_hey(url, body, content_type, c, seconds)
        log(
            f"  c={c:<3} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.1f}  p95 {result.p95_ms:7.1f}  "
            f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}  hey CPU {result.client_cpu_s / seconds:.2f} cores"
        )
        points.append(point(c, result))
    return points


def capacity_search(
    url: str, body: Path, content_type: str, seconds: float, points: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """More closed-loop points, bisecting the concurrency between the sweep's last point under the
    SLO and its first one over it: each is a steady load whose p99 is then known.

    (Paced load through `hey -q` was tried: hey starts every worker's ticker at once, so the requests
    arrive in bursts of `-c` and p99 measures the burst, not the rate.)"""
    under = [p["concurrency"] for p in points if serve_report.sustains(p, SLO_MS)]
    over = [p["concurrency"] for p in points if not serve_report.sustains(p, SLO_MS)]
    out: list[dict[str, Any]] = []
    low, high = max(under, default=0), min((c for c in over if c > max(under, default=0)), default=None)
    while high is not None and high - low > 1 and len(out) < 4:
        c = (low + high) // 2 if low else max(1, high // 2)
        result = run_hey(url, body, content_type, c, seconds)
        probe = point(c, result, probe=True)
        out.append(probe)
        ok = serve_report.sustains(probe, SLO_MS)
        log(
            f"  probe c={c:<3} {result.rps:7.1f} req/s  p99 {result.p99_ms:7.1f} ms  errors {result.errors}"
            f"  {'under' if ok else 'over'} the SLO"
        )
        low, high = (c, high) if ok else (low, c)
    return out


def missing(peer: Peer, reason: str) -> dict[str, Any]:
    log(f"  {peer.name} is missing: {reason}")
    return {"name": peer.name, "missing": reason}


def bench_peer(peer: Peer, name: str, workdir: Path, args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """One peer's sweep at PEER_CONCURRENCY, or `{"missing": reason}` where it cannot run here."""
    spec = MODELS[name]
    model_dir, body = workdir / name, workdir / spec["body"]
    log(f"{name}: {peer.name}")
    reason = peers.missing_reason(peer)
    if reason is not None:
        return missing(peer, reason)
    data, content_type = peers.request_body(peer, body.read_bytes(), spec["body"], spec["type"])
    body_path = workdir / f"{spec['body']}.{peer.key}"
    body_path.write_bytes(data)
    port = free_port(span=3)  # TorchServe: inference, management and metrics ports
    log_path = workdir / f"{name}-{peer.key}.log"
    try:
        launch = peers.launch(peer, model_dir, port, workdir, args.peer_threads or threads)
        log(f"  {' '.join(launch.command[1:])}")
        with ServerProcess(launch.command, launch.health_url, log_path, env=launch.env, cwd=ROOT):
            problem = peers.first_answer(launch.predict_url, data, content_type)
            if problem is not None:
                tail = log_path.read_text(errors="replace")[-800:] if log_path.exists() else ""
                return missing(peer, f"{problem}; its log ends: {tail}")
            points = sweep(launch.predict_url, body_path, content_type, args.seconds, args.warmup, PEER_CONCURRENCY)
    except subprocess.CalledProcessError as error:
        command = " ".join(map(str, error.cmd))
        return missing(peer, f"`{command}` exited {error.returncode}: {(error.stderr or '')[-800:]}")
    except (RuntimeError, LoadParseError, subprocess.TimeoutExpired, OSError) as error:
        return missing(peer, str(error)[-1500:])
    return {"name": peer.name, "version": peers.version(peer), "batching": peer.batching, "points": points}


def bench_model(name: str, workdir: Path, args: argparse.Namespace, threads: int) -> dict[str, Any]:
    spec = MODELS[name]
    model_dir, body = workdir / name, workdir / spec["body"]
    log(f"{name}: raw model, batch sizes {CONCURRENCY}")
    raw = raw_reference(model_dir, threads, args.raw_seconds)
    for b, r in raw["batches"].items():
        log(
            f"  batch {b:>3}: {r['items_per_s']:8.1f} items/s  forward p50 {r['forward_ms_p50']:.2f} ms "
            f"({r['threads']} threads)"
        )
    port = free_port()
    command = server_command(args.server_python, model_dir, port, *args.server_args)
    log(f"{name}: inference server ({' '.join(command[3:])})")
    url = f"http://127.0.0.1:{port}/invocations"
    with ServerProcess(command, f"http://127.0.0.1:{port}/ping", workdir / f"{name}-server.log", env=python_env()):
        server = sweep(url, body, spec["type"], args.seconds, args.warmup)
        paced = [] if args.quick else capacity_search(url, body, spec["type"], args.probe_seconds, server)
        explained = None
        if not args.no_explain:
            explained = explain_load.interference(url, body, spec["type"], EXPLAIN_CONCURRENCY, args.seconds)
            alone, beside = explained["alone"], explained["with_explanations"]
            log(
                f"  explanations: c={EXPLAIN_CONCURRENCY} alone {alone['rps']} req/s p99 {alone['p99_ms']} ms; "
                f"with 1 explanation/s {beside['rps']} req/s p99 {beside['p99_ms']} ms; explanations "
                f"{beside['statuses']} p50 {beside['explain_p50_ms']} ms"
            )
    rps, best = serve_report.max_sustainable_rps([*server, *paced], SLO_MS)
    source = (
        "no point met the SLO"
        if best is None
        else f"closed-loop hey at c={best['concurrency']}, p99 {best['p99_ms']:.1f} ms"
    )
    model: dict[str, Any] = {
        "description": describe(name),
        "raw": raw,
        "server": server,
        "probes": paced,
        "capacity": {"rps": rps, "slo_ms": SLO_MS, "source": source},
        "explain_interference": explained,
    }
    model["peers"] = {peer.key: bench_peer(peer, name, workdir, args, threads) for peer in args.peers}
    model["ratio_to_raw"] = serve_report.ratio_to_raw(server, raw)
    model["targets"] = serve_report.check_targets(model)
    return model


def load_average(uptime_line: str) -> float | None:
    """The 1-minute load average of an `uptime` line."""
    match = re.search(r"load average:\s*([0-9.]+)", uptime_line)
    return float(match.group(1)) if match else None


def busy_before(uptime_line: str, max_load: float) -> str | None:
    """Why the capacity figures must not be written (the stacks size autoscaling from them): a machine
    this busy before the run measures the other work, not the server. None when it was quiet enough."""
    load = load_average(uptime_line)
    if load is not None and load > max_load:
        return f"the 1-minute load average was {load:g} before the run, over {max_load:g} (--capacity-max-load)"
    return None


def server_stack(python: str) -> str:
    """Which event loop and HTTP parser uvicorn picks under `python` (`auto`: uvloop/httptools if installed)."""
    code = (
        "import importlib.util as u; print(('uvloop' if u.find_spec('uvloop') else 'asyncio') + ' + ' + "
        "('httptools' if u.find_spec('httptools') else 'h11'))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return f"uvicorn {done.stdout.strip() or '?'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s points, no capacity search, nothing written")
    parser.add_argument("--seconds", type=float, help="seconds per load point (default 12, 3 with --quick)")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--probe-seconds", type=float, default=10.0, help="seconds per capacity-search point")
    parser.add_argument("--raw-seconds", type=float, default=2.0)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument(
        "--peers",
        nargs="*",
        choices=[peer.key for peer in PEERS],
        default=[peer.key for peer in PEERS],
        help="which peers to run (none: `--peers` alone)",
    )
    parser.add_argument(
        "--capacity-max-load",
        type=float,
        default=float(len(os.sched_getaffinity(0))),
        help="write serving_capacity.json only when the load average before the run is at most this (default: CPUs)",
    )
    parser.add_argument("--no-explain", action="store_true", help="skip the explanation interference point")
    parser.add_argument(
        "--peer-threads",
        type=int,
        default=0,
        help="the peers' framework threads (default: CPUs, as the inference server; a variant: nothing written)",
    )
    parser.add_argument(
        "--server-python",
        default=sys.executable,
        help="interpreter for the inference server (a variant, e.g. one with uvloop; nothing written)",
    )
    parser.add_argument(
        "--server-args",
        nargs=argparse.REMAINDER,
        default=[],
        help="extra flags for python -m inference serve (a variant; nothing written)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.raw_seconds = 1.0, 0.5
    args.seconds = args.seconds or (3.0 if args.quick else 12.0)
    args.peers = [peers.BY_KEY[key] for key in args.peers]
    threads = len(os.sched_getaffinity(0))
    before, started = uptime(), time.monotonic()
    log(f"{before}")
    results: dict[str, Any] = {"models": {}}
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        workdir = Path(tmp)
        log("exporting the artifacts (training package: export_cnn, export_mlp)")
        build_artifacts(workdir)
        for name in args.models:
            results["models"][name] = bench_model(name, workdir, args, threads)
    after = uptime()
    log(f"{after}")
    results["meta"] = {
        "date": date.today().isoformat(),
        "duration_s": round(time.monotonic() - started),
        "machine": f"{threads} vCPU {platform.processor() or platform.machine()}, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, no GPU",
        "load_note": "hey runs on the same cores as the server and competes with it for CPU; the machine is "
        "shared with other work (see the load averages).",
        "uptime_before": before,
        "uptime_after": after,
        "server_config": "1 worker, max batch 32, adaptive batch wait <= 10 ms, framework threads = CPUs "
        f"(torch: 1 below {SMALL_BATCH_ROWS} rows), OMP_WAIT_POLICY=PASSIVE, "
        f"{server_stack(args.server_python)}"
        + (f", extra flags {' '.join(args.server_args)}" if args.server_args else "")
        + (f", interpreter {args.server_python}" if args.server_python != sys.executable else ""),
        "peers": [
            {
                "key": peer.key,
                "name": peer.name,
                "config": f"{peer.batching}, framework threads = {args.peer_threads or 'CPUs'} "
                f"(the server's model loader, decoder and encoder), body: {peer.body}",
            }
            for peer in args.peers
        ],
        "load_generator": "hey 0.1.4 (closed loop, keep-alive), unpinned on the same 2 cores as the server under "
        "test (no taskset); its own CPU use is recorded per point",
        "seconds_per_point": args.seconds,
        "warmup_seconds": args.warmup,
        "slo_p99_ms": SLO_MS,
        "concurrency": list(CONCURRENCY),
        "peer_concurrency": list(PEER_CONCURRENCY),
    }
    text = serve_report.markdown(results) + explain_load.markdown(results["models"]) + "\n"
    print(text)
    if args.quick or args.server_args or args.server_python != sys.executable or args.peer_threads:
        log("quick run or server variant: nothing written")
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS / "serve.md").write_text(text + "\n")
    serve_report.plot(results, RESULTS / "serve.png")
    busy = busy_before(before, args.capacity_max_load)
    if busy is not None:
        log(f"wrote {RESULTS}/serve.json, serve.md, serve.png; NOT {CAPACITY_FILE}: {busy}")
        return 0
    capacity = json.loads(CAPACITY_FILE.read_text()) if CAPACITY_FILE.exists() else {}
    for name, model in results["models"].items():
        if model["capacity"]["rps"] > 0:
            capacity[name] = serve_report.capacity_entry(
                model["capacity"]["rps"],
                SLO_MS,
                INSTANCE_TYPE,
                results["meta"]["date"],
                measured_on=results["meta"]["machine"],
                source=model["capacity"]["source"],
            )
    CAPACITY_FILE.write_text(json.dumps(capacity, indent=2) + "\n")
    log(f"wrote {RESULTS}/serve.json, serve.md, serve.png and {CAPACITY_FILE} in {results['meta']['duration_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
