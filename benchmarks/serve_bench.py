"""`make bench-serve`: the inference server against the raw model and LitServe, over HTTP.

For each model (the CNN on 32x32 PNG images, the MLP on one-second 8 kHz WAV clips), all in one run:
1. real-size artifacts written by the training package's own export functions (serve_artifacts);
2. the raw exported model in process at batch sizes 1, 8, 32, 64 (serve_raw): the physical reference;
3. `python -m inference serve` with its defaults, loaded by `hey` at concurrency 1, 8, 32, 64 with
   real PNG/WAV bodies, then more concurrency levels, bisected, for the highest throughput whose p99
   stays under the SLO: the figure written to benchmarks/serving_capacity.json for autoscaling;
4. LitServe (benchmarks/litserve_app.py, its own venv) serving the same artifact, same load;
5. explanations: prediction throughput and p99 at concurrency EXPLAIN_CONCURRENCY alone and with one
   integrated-gradients request a second in flight (benchmarks/explain_load.py; `--no-explain` skips).

    python -m benchmarks.serve_bench [--quick] [--seconds 12] [--models cnn mlp] [--no-baseline]

Writes benchmarks/results/serve.{json,md,png} and benchmarks/serving_capacity.json (not with
--quick, whose short points are for trying the script out). The load generator runs on the same
cores as the servers and takes CPU from them; the results say so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from inference.readiness import free_port
from inference.settings import SMALL_BATCH_ROWS  # framework-free: this process loads no model

from benchmarks import explain_load, serve_report
from benchmarks.serve_load import LoadResult, ServerProcess, multipart, run_hey

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CAPACITY_FILE = ROOT / "benchmarks" / "serving_capacity.json"
LITSERVE_PYTHON = ROOT / ".venv-litserve" / "bin" / "python"
CONCURRENCY = (1, 8, 32, 64)
EXPLAIN_CONCURRENCY = 8
SLO_MS = 100.0
MAX_BATCH_SIZE = 32  # the inference server's default (inference/settings.py), used for LitServe too
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


def sweep(url: str, body: Path, content_type: str, seconds: float, warmup: float) -> list[dict[str, Any]]:
    run_hey(url, body, content_type, 8, warmup)  # warm-up, figures discarded
    points = []
    for c in CONCURRENCY:
        result = run_hey(url, body, content_type, c, seconds)
        log(
            f"  c={c:<3} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.1f}  p95 {result.p95_ms:7.1f}  "
            f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}"
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
    command = [
        args.server_python,
        "-m",
        "inference",
        "serve",
        "--model-dir",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args.server_args,
    ]
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
    if not args.no_baseline:
        form, form_type = multipart(body.read_bytes(), spec["body"], spec["type"])
        form_path = workdir / f"{spec['body']}.multipart"
        form_path.write_bytes(form)
        port = free_port()
        command = [
            str(LITSERVE_PYTHON),
            "-m",
            "benchmarks.litserve_app",
            "--model-dir",
            str(model_dir),
            "--port",
            str(port),
            "--max-batch-size",
            str(MAX_BATCH_SIZE),
            "--batch-timeout-ms",
            "0",
            "--threads",
            str(args.baseline_threads or threads),
        ]
        log(f"{name}: LitServe ({' '.join(command[3:])})")
        with ServerProcess(
            command, f"http://127.0.0.1:{port}/health", workdir / f"{name}-litserve.log", env=python_env(), cwd=ROOT
        ):
            model["baseline"] = sweep(
                f"http://127.0.0.1:{port}/predict", form_path, form_type, args.seconds, args.warmup
            )
    model["ratio_to_raw"] = serve_report.ratio_to_raw(server, raw)
    model["targets"] = serve_report.check_targets(model)
    return model


def server_stack(python: str) -> str:
    """Which event loop and HTTP parser uvicorn picks under `python` (`auto`: uvloop/httptools if installed)."""
    code = (
        "import importlib.util as u; print(('uvloop' if u.find_spec('uvloop') else 'asyncio') + ' + ' + "
        "('httptools' if u.find_spec('httptools') else 'h11'))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return f"uvicorn {done.stdout.strip() or '?'}"


def litserve_version() -> str:
    done = subprocess.run(
        [str(LITSERVE_PYTHON), "-c", "import litserve; print(litserve.__version__)"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s points, no capacity search, nothing written")
    parser.add_argument("--seconds", type=float, help="seconds per load point (default 12, 3 with --quick)")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--probe-seconds", type=float, default=10.0, help="seconds per capacity-search point")
    parser.add_argument("--raw-seconds", type=float, default=2.0)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--no-baseline", action="store_true", help="skip LitServe")
    parser.add_argument("--no-explain", action="store_true", help="skip the explanation interference point")
    parser.add_argument(
        "--baseline-threads",
        type=int,
        default=0,
        help="LitServe's framework threads (default: CPUs, as the inference server)",
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
    if not args.no_baseline and not LITSERVE_PYTHON.exists():
        parser.error(f"{LITSERVE_PYTHON} is missing: run `make bench-serve` (it builds it) or pass --no-baseline")
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
    version = litserve_version() if not args.no_baseline else "-"
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
        "baseline_name": f"LitServe {version}",
        "baseline_short": f"LitServe {version}",
        "baseline_config": f"1 API server, workers_per_device=1, max_batch_size={MAX_BATCH_SIZE}, batch_timeout=0, "
        f"framework threads = {args.baseline_threads or 'CPUs'} (same model loader as the server), "
        f"{server_stack(str(LITSERVE_PYTHON)) if not args.no_baseline else '-'}, "
        "multipart body with the same bytes",
        "load_generator": "hey 0.1.4 (closed loop, keep-alive)",
        "seconds_per_point": args.seconds,
        "warmup_seconds": args.warmup,
        "slo_p99_ms": SLO_MS,
        "concurrency": list(CONCURRENCY),
    }
    text = serve_report.markdown(results) + explain_load.markdown(results["models"]) + "\n"
    print(text)
    if args.quick or args.server_args or args.server_python != sys.executable or args.baseline_threads:
        log("quick run or server variant: nothing written")
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS / "serve.md").write_text(text + "\n")
    serve_report.plot(results, RESULTS / "serve.png")
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
