"""The physical reference: the exported model's own forward passes, in process, no HTTP.

    python -m benchmarks.serve_raw MODEL_DIR --threads 2 1 --seconds 2 --batches 1 8 32 64

Loads the artifact with the server's own loader (`inference.models.load_predictor`, so the same
framework calls), then times back-to-back forward passes of each batch size on the input the server
would hand the model (decoded images / waveforms), on a thread of their own as in the server's
micro-batcher. Each framework thread count is a fresh process (the frameworks fix their pools
once); the reference per batch size is the best of them, so the model's physical best, whatever
thread setting the server happens to use. Prints one JSON object:
`{"batches": {"1": {"items_per_s", "forward_ms_p50", "forward_ms_p99", "passes", "threads"}, ...},
"by_threads": {"2": {...}, "1": {...}}}`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(run, array: np.ndarray, seconds: float, min_passes: int = 5) -> dict[str, float]:
    for _ in range(3):
        run(array)
    times: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or len(times) < min_passes:
        t0 = time.perf_counter()
        run(array)
        times.append(time.perf_counter() - t0)
    total = sum(times)
    return {
        "items_per_s": len(array) * len(times) / total,
        "forward_ms_p50": 1000 * percentile(times, 50),
        "forward_ms_p99": 1000 * percentile(times, 99),
        "passes": len(times),
    }


def best_per_batch(by_threads: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """For each batch size, the thread setting with the most items/s (its figures, and which it was)."""
    best: dict[str, dict[str, float]] = {}
    for threads, batches in by_threads.items():
        for batch, figures in batches.items():
            if batch not in best or figures["items_per_s"] > best[batch]["items_per_s"]:
                best[batch] = {**figures, "threads": int(threads)}
    return best


def one_setting(args: argparse.Namespace) -> dict[str, object]:

    from inference.artifact import load_manifest
    from inference.decoding import IMAGE, WAVEFORM
    from inference.models import load_predictor

    manifest = load_manifest(args.model_dir)
    predictor = load_predictor(manifest, args.threads[0])
    entry = IMAGE if IMAGE in predictor.entries else WAVEFORM
    rng = np.random.default_rng(0)
    results = {}
    for batch in args.batches:
        example = predictor.example(entry, batch)
        array = rng.uniform(0 if entry == IMAGE else -0.5, 0.5 if entry == WAVEFORM else 1.0, example.shape).astype(
            np.float32
        )
        results[str(batch)] = measure(lambda a: predictor(entry, a), array, args.seconds)
    return {"model": manifest.name, "entry": entry, "batches": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--threads", type=int, nargs="+", required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single:
        out: dict[str, object] = {}
        worker = threading.Thread(target=lambda: out.update(one_setting(args)), name="model-forward")
        worker.start()
        worker.join()
        print(json.dumps(out))
        return 0
    by_threads = {}
    for threads in args.threads:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.serve_raw",
                str(args.model_dir),
                "--single",
                "--threads",
                str(threads),
                "--seconds",
                str(args.seconds),
                "--batches",
                *map(str, args.batches),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        single = json.loads(done.stdout.strip().splitlines()[-1])
        by_threads[str(threads)] = single["batches"]
    print(
        json.dumps(
            {
                "model": single["model"],
                "entry": single["entry"],
                "batches": best_per_batch(by_threads),
                "by_threads": by_threads,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
