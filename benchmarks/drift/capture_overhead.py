"""What the server's own capture costs a request: the same load with capture off and on.

The CNN artifact `make bench-drift` trained, served by `inference/serve` (local mode's launcher) with
and without `INFERENCE_CAPTURE_DIR`, under `hey` at a fixed concurrency; the conditions alternate
round by round so the machine's other load falls on both alike. Prints and writes the figures
(rps, p50, p99 per round, and the on/off medians' ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.serve_load import run_hey
from local_mode.serving import LocalServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("benchmarks/drift/.models/cnn/model"))
    parser.add_argument("--body", type=Path, default=None, help="an image (default: one CIFAR-10 JPEG)")
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=18329)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/capture-overhead.json"))
    args = parser.parse_args(argv)
    body = args.body or sorted((args.data / "cifar10-train-extra" / "cat").glob("*.jpg"))[0]
    rounds: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.rounds):
            for condition in ("off", "on") if index % 2 == 0 else ("on", "off"):
                captures = Path(scratch) / f"captures-{index}" if condition == "on" else None
                log = Path(scratch) / f"serve-{condition}-{index}.log"
                with LocalServer(args.model_dir.resolve(), args.port, log, capture_dir=captures) as server:
                    result = run_hey(f"{server.url}/invocations", body, "image/jpeg", args.concurrency, args.seconds)
                written = sum(1 for f in captures.rglob("*.jsonl") for _ in f.open()) if captures else 0
                figures = {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "ok": result.ok}
                figures.update(errors=result.errors, captured=written)
                rounds[condition].append(figures)
                print(condition, index, figures, flush=True)
    summary = {c: {k: statistics.median(r[k] for r in rounds[c]) for k in ("rps", "p50_ms", "p99_ms")} for c in rounds}
    ratios = {k: summary["on"][k] / summary["off"][k] for k in ("rps", "p50_ms", "p99_ms")}
    out = {"rounds": rounds, "median": summary, "on_over_off": ratios, "load_after": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"median": summary, "on_over_off": ratios}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
