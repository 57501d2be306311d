"""The inference server and one peer up at once, loaded in alternation: a comparison that drifting load
on a shared machine strikes alike (the full `make bench-serve` measures one server after another).

    python -m benchmarks.serve_duel PEER [--models cnn mlp] [--concurrency 1 8 32] [--rounds 3]
        [--seconds 6] [--write NAME]
    python -m benchmarks.serve_duel tree --tree /path/to/other/checkout ...   # before/after of a change
    python -m benchmarks.serve_duel tree --env INFERENCE_MODEL_PROCESS=1 ...     # a setting against the default

For each model, starts `python -m inference serve` and PEER (benchmarks/peers.py) on the same
artifact, then for each concurrency runs `hey` against each in turn, ROUNDS times, swapping which goes
first each round; prints each run and the medians (requests/s, p50, p99). With `--write NAME`, writes
benchmarks/results/NAME.{json,md}. PEER `tree` is the inference server of another checkout
(`--tree DIR`, default this one: its `inference` package first on PYTHONPATH, the same venv) with the
environment `--env KEY=VALUE ...`: a change against the code it changes, or a server setting against
its default, measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from inference.readiness import free_port

from benchmarks import peers
from benchmarks.serve_bench import MODELS, ROOT, build_artifacts, log, python_env, uptime
from benchmarks.serve_load import ServerProcess, run_hey, server_command

RESULTS = ROOT / "benchmarks" / "results"
TREE = "tree"


def tree_peer(tree: Path, env: dict[str, str]) -> peers.Peer:
    where = "" if tree.resolve() == ROOT else f" of {tree}"
    name = f"inference server{where}" + "".join(f" {key}={value}" for key, value in env.items())
    return peers.Peer(TREE, name, "", "inference", peers.RAW, "the server's own")


def tree_launch(tree: Path, env: dict[str, str], model_dir: Path, port: int) -> peers.Launch:
    """The inference server of the checkout `tree` with `env`, in this venv: its package shadows the
    installed one."""
    env = {**python_env(), "PYTHONPATH": str(tree.resolve() / "inference"), **env}
    base = f"http://127.0.0.1:{port}"
    return peers.Launch(server_command(sys.executable, model_dir, port), f"{base}/ping", f"{base}/invocations", env)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 2) for key in ("rps", "p50_ms", "p99_ms")}


def duel(peer: peers.Peer, name: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    spec = MODELS[name]
    model_dir, body = workdir / name, workdir / spec["body"]
    data, peer_type = peers.request_body(peer, body.read_bytes(), spec["body"], spec["type"])
    peer_body = workdir / f"{spec['body']}.{peer.key}"
    peer_body.write_bytes(data)
    port, peer_port = free_port(), free_port(span=3)
    command = server_command(sys.executable, model_dir, port)
    threads = len(os.sched_getaffinity(0))
    if peer.key == TREE:
        launch = tree_launch(args.tree, args.env, model_dir, peer_port)
    else:
        launch = peers.launch(peer, model_dir, peer_port, workdir, threads)
    targets = {
        "inference server": (f"http://127.0.0.1:{port}/invocations", body, spec["type"]),
        peer.name: (launch.predict_url, peer_body, peer_type),
    }
    runs: dict[str, dict[int, list[dict[str, float]]]] = {label: {} for label in targets}
    with ExitStack() as stack:
        stack.enter_context(
            ServerProcess(command, f"http://127.0.0.1:{port}/ping", workdir / f"{name}-server.log", env=python_env())
        )
        stack.enter_context(
            ServerProcess(
                launch.command, launch.health_url, workdir / f"{name}-{peer.key}.log", env=launch.env, cwd=ROOT
            )
        )
        problem = peers.first_answer(launch.predict_url, data, peer_type)
        if problem is not None:
            raise RuntimeError(f"{peer.name}: {problem}")
        for url, path, content_type in targets.values():
            run_hey(url, path, content_type, 8, 3.0)  # warm-up
        for c in args.concurrency:
            for index in range(args.rounds):
                order = list(targets) if index % 2 == 0 else list(reversed(targets))
                for label in order:
                    url, path, content_type = targets[label]
                    result = run_hey(url, path, content_type, c, args.seconds)
                    figures = {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}
                    runs[label].setdefault(c, []).append(figures)
                    log(
                        f"{name} c={c} {label}: {result.rps:.1f} req/s p50 {result.p50_ms:.1f} "
                        f"p99 {result.p99_ms:.1f} ms"
                    )
    return {label: {str(c): {"median": medians(r), "runs": r} for c, r in by_c.items()} for label, by_c in runs.items()}


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# The inference server against {meta['peer']}, interleaved ({meta['date']})",
        "",
        f"Command: `{meta['command']}`. Both servers up at once; `hey` against each in turn, "
        f"{meta['rounds']} rounds of "
        f"{meta['seconds']:g} s per concurrency, swapping the order each round; medians. Machine: 2 vCPU shared with "
        f"other helpers' work, load before/after `{meta['uptime_before']}` / `{meta['uptime_after']}`.",
        "",
        "| model | concurrency | server | req/s | p50 ms | p99 ms |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, model in results["models"].items():
        for label, by_c in model.items():
            for c, figures in by_c.items():
                m = figures["median"]
                lines.append(f"| {name} | {c} | {label} | {m['rps']:.1f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=[*sorted(peers.BY_KEY), TREE])
    parser.add_argument("--tree", type=Path, default=ROOT, help="with PEER tree: the checkout's root (default: this)")
    parser.add_argument("--env", nargs="+", default=[], metavar="KEY=VALUE", help="with PEER tree: its environment")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--write", help="write benchmarks/results/NAME.{json,md}")
    args = parser.parse_args(argv)
    if args.peer == TREE:
        if not (args.tree / "inference" / "inference" / "app.py").is_file():
            parser.error(f"--tree {args.tree}: not a checkout (no inference/inference/app.py)")
        if not all("=" in item for item in args.env):
            parser.error(f"--env takes KEY=VALUE items, found {args.env}")
        args.env = dict(item.split("=", 1) for item in args.env)
        peer = tree_peer(args.tree, args.env)
    else:
        peer = peers.BY_KEY[args.peer]
        reason = peers.missing_reason(peer)
        if reason is not None:
            parser.error(f"{peer.name} is missing: {reason}")
    before = uptime()
    results: dict[str, Any] = {"models": {}}
    with tempfile.TemporaryDirectory(prefix="serve-duel-") as tmp:
        workdir = Path(tmp)
        build_artifacts(workdir)
        for name in args.models:
            results["models"][name] = duel(peer, name, workdir, args)
    results["meta"] = {
        "date": date.today().isoformat(),
        "command": "python -m benchmarks.serve_duel " + " ".join(argv if argv is not None else sys.argv[1:]),
        "peer": peer.name if peer.key == TREE else f"{peer.name} {peers.version(peer)}",
        "rounds": args.rounds,
        "seconds": args.seconds,
        "uptime_before": before,
        "uptime_after": uptime(),
    }
    text = markdown(results)
    print(text)
    if args.write:
        (RESULTS / f"{args.write}.json").write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / f"{args.write}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
