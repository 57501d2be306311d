"""Where the inference server's time goes at low concurrency: CPU and context switches per request, per
thread, and what holds the GIL, for decoding on the event loop against decoding in a thread.

    python -m benchmarks.serve_profile [--models mlp cnn] [--concurrency 1] [--seconds 8] [--write]

For each model and variant (`thread`: INFERENCE_INLINE_DECODE_BYTES=0, every body decoded in a worker
thread as the hardening had it; `inline`: the default, a small PNG/WAV decoded on the loop), starts
`python -m inference serve`, warms it up, then:
1. `hey` at the concurrency for SECONDS: requests/s, p50, p99, and from /proc/PID/task the CPU time
   (utime + stime) and context switches (voluntary + involuntary) each thread spent per request,
   a measure of cost that the machine's other load changes less than it changes latency;
2. `py-spy record --gil --threads` during a second run: samples of whichever thread holds the GIL,
   i.e. Python's own CPU time, by function (self time).
Also times the slowest bodies `decodes_inline` lets onto the event loop. With `--write`, writes
benchmarks/results/serve_profile.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from inference.readiness import free_port

from benchmarks.serve_load import ServerProcess, run_hey, server_command

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PY_SPY = Path(sys.executable).with_name("py-spy")
VARIANTS = {"thread": {"INFERENCE_INLINE_DECODE_BYTES": "0"}, "inline": {}}
# Self time summed by where the code lives: the suspects (the header-timeout protocol, the batcher, the
# decode thread's machinery) and the rest.
MODULES = {
    "inference/protocol.py": "header-timeout protocol",
    "inference/batching.py": "micro-batcher (queue, turns, wake-ups)",
    "anyio/": "anyio (decode thread hop)",
    "threading.py": "threading (waits, notifies)",
    "inference/decoding.py": "decoding",
    "inference/audio.py": "decoding",
    "scipy/": "decoding",
    "PIL/": "decoding",
    "uvicorn/": "uvicorn (HTTP)",
    "starlette/": "starlette",
    "tensorflow/": "framework (Python side)",
    "torch/": "framework (Python side)",
    "json/": "JSON encoding",
    "inference/app.py": "inference.app",
    "inference/stages.py": "inference.app",  # the request's stages, composed by inference.app
    "inference/http_errors.py": "inference.app",
    "inference/served.py": "inference.app",
}
BODIES = {"cnn": ("image.png", "image/png"), "mlp": ("audio.wav", "audio/wav")}
TICK = os.sysconf("SC_CLK_TCK")


def thread_counters(pid: int) -> dict[str, dict[str, float]]:
    """Per thread name: CPU seconds and context switches so far (threads of one name summed)."""
    out: dict[str, dict[str, float]] = collections.defaultdict(lambda: {"cpu_s": 0.0, "switches": 0.0})
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        name = re.sub(r"\d+$", "N", name)  # worker threads numbered alike are one row
        out[name]["cpu_s"] += (int(fields[11]) + int(fields[12])) / TICK
        switches = re.findall(r"ctxt_switches:\s+(\d+)", status)
        out[name]["switches"] += sum(map(int, switches))
    return dict(out)


def per_request(before: dict, after: dict, requests: int) -> dict[str, dict[str, float]]:
    rows = {}
    for name, end in after.items():
        start = before.get(name, {"cpu_s": 0.0, "switches": 0.0})
        cpu, switches = end["cpu_s"] - start["cpu_s"], end["switches"] - start["switches"]
        if cpu > 0 or switches > 0:
            rows[name] = {
                "cpu_us_per_request": round(1e6 * cpu / max(requests, 1), 1),
                "switches_per_request": round(switches / max(requests, 1), 2),
            }
    return rows


def leaf_samples(raw: str) -> Iterator[tuple[str, int]]:
    """(leaf frame, samples) for each stack of py-spy's raw (collapsed) output: `frames... count` lines."""
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            yield stack.split(";")[-1], int(count)


def gil_profile(raw: str, top: int = 12) -> list[dict[str, Any]]:
    """Self time by function from py-spy's raw (collapsed) output: `frames... count` lines."""
    leaves: collections.Counter[str] = collections.Counter()
    for leaf, count in leaf_samples(raw):
        leaves[re.sub(r":\d+\)$", ")", leaf)] += count
    total = sum(leaves.values()) or 1
    return [{"function": f, "share": round(n / total, 3)} for f, n in leaves.most_common(top)]


def module_shares(raw: str) -> dict[str, float]:
    """Self time by MODULES group (first match of the leaf frame's file), the rest as `other`."""
    groups: collections.Counter[str] = collections.Counter()
    for leaf, count in leaf_samples(raw):
        groups[next((label for path, label in MODULES.items() if path in leaf), "other")] += count
    total = sum(groups.values()) or 1
    return {group: round(n / total, 3) for group, n in groups.most_common()}


def profile_variant(model: str, variant: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    body, content_type = BODIES[model]
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **VARIANTS.get(variant, {})}
    if variant == "before-hardening":  # the package as it was before decoding moved off the loop
        env["PYTHONPATH"] = f"{args.before_tree}{os.pathsep}{env.get('PYTHONPATH', '')}"
    command = server_command(sys.executable, workdir / model, port)
    url = f"http://127.0.0.1:{port}/invocations"
    with ServerProcess(command, f"http://127.0.0.1:{port}/ping", workdir / f"{model}-{variant}.log", env=env) as s:
        assert s.process is not None
        run_hey(url, workdir / body, content_type, args.concurrency, 3.0)  # warm-up
        before = thread_counters(s.process.pid)
        load = run_hey(url, workdir / body, content_type, args.concurrency, args.seconds)
        after = thread_counters(s.process.pid)
        spy_out = workdir / f"{model}-{variant}.spy"
        spy = subprocess.Popen(
            [str(PY_SPY), "record", "--pid", str(s.process.pid), "--gil", "--threads", "--rate", "500",
             "--format", "raw", "--nonblocking", "--duration", str(int(args.seconds)), "-o", str(spy_out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)
        run_hey(url, workdir / body, content_type, args.concurrency, args.seconds - 1)
        spy.wait(timeout=60)
    return {
        "rps": round(load.rps, 1),
        "p50_ms": round(load.p50_ms, 2),
        "p99_ms": round(load.p99_ms, 2),
        "requests": load.ok,
        "threads": per_request(before, after, load.ok),
        "gil_self_time": gil_profile(spy_out.read_text()) if spy_out.exists() else [],
        "gil_by_module": module_shares(spy_out.read_text()) if spy_out.exists() else {},
    }


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds of one variant: medians of the load figures and of each thread's per-request
    cost; the GIL profile of the round with the median requests/s."""

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else round((ordered[middle - 1] + ordered[middle]) / 2, 2)

    typical = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
    threads = {}
    for name in {name for run in runs for name in run["threads"]}:
        rows = [run["threads"][name] for run in runs if name in run["threads"]]
        threads[name] = {key: median([row[key] for row in rows]) for key in rows[0]}
    return {
        **{key: median([run[key] for run in runs]) for key in ("rps", "p50_ms", "p99_ms")},
        "rounds": [{key: run[key] for key in ("rps", "p50_ms", "p99_ms")} for run in runs],
        "threads": threads,
        "gil_self_time": typical["gil_self_time"],
        "gil_by_module": typical["gil_by_module"],
    }


def slowest_inline_decodes() -> list[dict[str, Any]]:
    """Decode time of the costliest bodies `decodes_inline` accepts (its size, pixel and rate bounds)."""
    import numpy as np
    from inference.artifact import Manifest, load_manifest
    from inference.decoding import INLINE_MAX_PIXELS, decode, decodes_inline
    from inference.settings import ServeSettings
    from PIL import Image
    from scipy.io import wavfile

    limit = ServeSettings().inline_decode_bytes
    side = int(INLINE_MAX_PIXELS**0.5)
    rng = np.random.default_rng(0)
    cases: list[tuple[str, bytes, str, Manifest]] = []
    image_manifest, audio_manifest = load_manifest(ROOT_ARTIFACTS / "cnn"), load_manifest(ROOT_ARTIFACTS / "mlp")
    for label, noise in (("smooth", 0), ("noisy", 40)):
        y, x = np.mgrid[0:side, 0:side]
        pixels = np.stack([x, y, (x + y) // 2], -1) + rng.normal(0, noise, (side, side, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
        cases.append(
            (f"PNG {side}x{side} {label}, {len(buffer.getvalue())} B", buffer.getvalue(), "image/png", image_manifest)
        )
    for rate, channels in ((8000, 1), (4000, 2), (48000, 2), (128000, 1)):
        frames = (limit - 64) // (2 * channels)
        buffer = io.BytesIO()
        wavfile.write(buffer, rate, (rng.normal(0, 3000, (frames, channels)).squeeze()).astype(np.int16))
        cases.append(
            (f"WAV {rate} Hz x{channels}, {len(buffer.getvalue())} B", buffer.getvalue(), "audio/wav", audio_manifest)
        )
    rows = []
    for label, body, content_type, manifest in cases:
        inline = decodes_inline(body, content_type, manifest, limit)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            decode(body, content_type, manifest)
            times.append(time.perf_counter() - started)
        rows.append({"body": label, "inline": inline, "decode_ms_median": round(1000 * sorted(times)[10], 3),
                     "decode_ms_max": round(1000 * max(times), 3)})  # fmt: skip
    return rows


ROOT_ARTIFACTS = Path()


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# Serving profile at low concurrency ({meta['date']})",
        "",
        f"Command: `{meta['command']}`. Machine: 2 vCPU, shared with five other helpers' work; load "
        f"before/after: `{meta['uptime_before']}` / `{meta['uptime_after']}`. hey at concurrency "
        f"{meta['concurrency']}, {meta['seconds']:g} s per run, {meta['rounds']} rounds alternating the variants "
        "(medians; each round's figures in the JSON); `thread`: every body decoded in a worker thread "
        "(INFERENCE_INLINE_DECODE_BYTES=0, the hardening's behaviour); `inline`: the default.",
        "",
    ]
    for model, variants in results["models"].items():
        lines += [
            f"## {model}",
            "",
            "| variant | req/s | p50 ms | p99 ms | thread | CPU µs / request | switches / request |",
        ]
        lines.append("|---|---:|---:|---:|---|---:|---:|")
        for variant, figures in variants.items():
            for i, (thread, row) in enumerate(
                sorted(figures["threads"].items(), key=lambda kv: -kv[1]["cpu_us_per_request"])
            ):
                head = (
                    f"| {variant} | {figures['rps']} | {figures['p50_ms']} | {figures['p99_ms']} |"
                    if i == 0
                    else "| | | | |"
                )
                lines.append(f"{head} {thread} | {row['cpu_us_per_request']} | {row['switches_per_request']} |")
        lines.append("")
        for variant, figures in variants.items():
            top = ", ".join(f"{f['function']} {100 * f['share']:.0f}%" for f in figures["gil_self_time"][:8])
            groups = ", ".join(f"{g} {100 * share:.0f}%" for g, share in figures["gil_by_module"].items())
            lines += [f"GIL self time, `{variant}`, by function: {top}.", "", f"By module: {groups}.", ""]
    lines += [
        "## The slowest bodies allowed onto the event loop",
        "",
        "| body | inline | decode ms (median) | max |",
        "|---|---|---:|---:|",
    ]
    lines += [
        f"| {r['body']} | {'yes' if r['inline'] else 'no'} | {r['decode_ms_median']} | {r['decode_ms_max']} |"
        for r in results["inline_bounds"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    global ROOT_ARTIFACTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(BODIES), default=["mlp", "cnn"])
    parser.add_argument("--variants", nargs="+", choices=[*VARIANTS, "before-hardening"], default=list(VARIANTS))
    parser.add_argument(
        "--before-tree",
        type=Path,
        help="a folder holding the `inference` package before the hardening (git archive 747bb7b^ inference/inference)",
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, alternating (medians reported)")
    parser.add_argument("--artifacts", type=Path, help="a folder serve_artifacts wrote (default: a fresh one)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="serve-profile-") as tmp:
        workdir = Path(tmp)
        if args.artifacts is None:
            subprocess.run([sys.executable, "-m", "benchmarks.serve_artifacts", str(workdir)], check=True, cwd=ROOT,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, stdout=subprocess.DEVNULL)  # fmt: skip
        else:
            for item in args.artifacts.iterdir():
                os.symlink(item, workdir / item.name)
        ROOT_ARTIFACTS = workdir
        results: dict[str, Any] = {"models": {}}
        for model in args.models:
            rounds: dict[str, list[dict[str, Any]]] = {variant: [] for variant in args.variants}
            for index in range(args.rounds):  # variants alternate, in turned order, so drifting load hits each alike
                order = args.variants[index % len(args.variants) :] + args.variants[: index % len(args.variants)]
                for variant in order:
                    figures = profile_variant(model, variant, workdir, args)
                    head = f"{model} {variant}: {figures['rps']} req/s p50 {figures['p50_ms']} p99 {figures['p99_ms']}"
                    print(head, json.dumps(figures["threads"]), flush=True)
                    rounds[variant].append(figures)
            results["models"][model] = {variant: combine(runs) for variant, runs in rounds.items()}
        results["inline_bounds"] = slowest_inline_decodes()
    results["meta"] = {
        "date": date.today().isoformat(),
        "command": "python -m benchmarks.serve_profile " + " ".join(argv if argv is not None else sys.argv[1:]),
        "uptime_before": before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "rounds": args.rounds,
    }
    text = markdown(results)
    print(text)
    if args.write:
        (RESULTS / "serve_profile.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / "serve_profile.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
