"""`make bench-capacity`: each model's capacity per instance measured open-loop, then a real arrival
process replayed against it, next to what the planner's model predicts.

1. The knee. Load generator: tsung (Debian's `tsung` 1.7, an established Erlang load tester), chosen
   because its load model is open: in an `arrivalphase`, new users arrive as a Poisson process at the
   phase's rate whether or not earlier users were answered; each user here sends one request and
   leaves. (wrk2 and vegeta, the usual constant-rate tools, are in neither Debian bookworm nor PyPI;
   httperf is in Debian and open-loop, but reports no latency percentiles.) One tsung run sweeps the
   arrival rate in phases; `dumptraffic="protocol"` logs every request's end time and duration, so the
   p99 of each phase is computed here from all its requests.
   Coordinated omission: arrivals do not wait for answers, so a slow answer delays no later request and
   every request's latency is in the sample. What is left is the generator falling behind its schedule
   (it shares the two cores with the server): each phase reports the arrival rate tsung achieved next to
   the rate asked for, and the knee is stated at the achieved rate, the load the server really got.
   The knee is the highest achieved rate whose p99 stays within the SLO with no errors.
2. The replay: benchmarks/open_loop_replay.py sends the Azure LLM trace's requests at their own
   timestamps, time-scaled to chosen fractions of the knee, and compares the p99 of each minute with
   the planner's prediction (over capacity exactly when a minute's rate exceeds the knee).

Writes benchmarks/results/open_loop.{json,md} and adds `open_loop_knee_rps`, `vcpus` and `memory_gib`
to benchmarks/serving_capacity.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import open_loop_replay
from benchmarks.serve_bench import (
    CAPACITY_FILE,
    INSTANCE_TYPE,
    MODELS,
    RESULTS,
    ROOT,
    SLO_MS,
    build_artifacts,
    free_port,
    log,
    python_env,
    uptime,
)
from benchmarks.serve_load import ServerProcess, server_command

AZURE_TRACE = ROOT.parent / "shared" / "traces" / "azure-llm-conv-2023.csv"
RATES = {"cnn": (40, 80, 120, 160, 200, 240), "mlp": (100, 200, 400, 600, 800)}
DTD = "/usr/share/tsung/tsung-1.0.dtd"


def tsung_config(port: int, body: Path, content_type: str, rates: tuple[int, ...], phase_s: int) -> str:
    phases = "\n".join(
        f'    <arrivalphase phase="{i + 1}" duration="{phase_s}" unit="second">'
        f'<users arrivalrate="{r}" unit="second"/></arrivalphase>'
        for i, r in enumerate(rates)
    )
    return f"""<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "{DTD}">
<tsung loglevel="warning" dumptraffic="protocol">
  <clients><client host="localhost" use_controller_vm="true" maxusers="60000"/></clients>
  <servers><server host="127.0.0.1" port="{port}" type="tcp"/></servers>
  <load>
{phases}
  </load>
  <sessions>
    <session name="one-request" probability="100" type="ts_http">
      <request><http url="/invocations" method="POST" content_type="{content_type}"
                     contents_from_file="{body}"/></request>
    </session>
  </sessions>
</tsung>
"""


def parse_dump(path: Path) -> np.ndarray:
    """(start s, duration ms, ok) per request from tsung.dump (`date` is when the answer ended)."""
    rows = []
    for line in path.read_text().splitlines()[1:]:
        fields = line.split(";")
        if len(fields) < 12:
            continue
        end, duration = float(fields[0]), float(fields[8])
        ok = fields[6].startswith("2") and not fields[11]
        rows.append((end - duration / 1000, duration, 1.0 if ok else 0.0))
    return np.asarray(rows)


def phases(requests: np.ndarray, rates: tuple[int, ...], phase_s: int, slo_ms: float) -> list[dict[str, Any]]:
    start = float(requests[:, 0].min())
    out = []
    for i, rate in enumerate(rates):
        mask = (requests[:, 0] >= start + i * phase_s) & (requests[:, 0] < start + (i + 1) * phase_s)
        chunk = requests[mask]
        if len(chunk) == 0:
            continue
        p99 = float(np.percentile(chunk[:, 1], 99))
        errors = int((chunk[:, 2] == 0).sum())
        out.append(
            {
                "offered_rps": rate,
                "achieved_rps": round(len(chunk) / phase_s, 1),
                "p50_ms": round(float(np.percentile(chunk[:, 1], 50)), 1),
                "p99_ms": round(p99, 1),
                "errors": errors,
                "within_slo": p99 <= slo_ms and errors == 0,
            }
        )
    return out


def knee(points: list[dict[str, Any]]) -> float:
    """The highest achieved rate whose p99 is within the SLO with no errors (0 when none is). On a
    shared machine a lower phase can miss the SLO through a neighbour's burst: the tables show it."""
    return max((p["achieved_rps"] for p in points if p["within_slo"]), default=0.0)


def sweep(port: int, body: Path, content_type: str, rates: tuple[int, ...], phase_s: int, workdir: Path) -> list:
    config = workdir / "tsung.xml"
    config.write_text(tsung_config(port, body, content_type, rates, phase_s))
    logs = workdir / "tsung-logs"
    subprocess.run(
        ["tsung", "-f", str(config), "-l", str(logs), "start"],
        check=True,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        timeout=phase_s * len(rates) + 120,
    )
    dump = max(logs.glob("*/tsung.dump"), key=lambda p: p.stat().st_mtime)
    return phases(parse_dump(dump), rates, phase_s, SLO_MS)


def json_body(raw: Path, out: Path) -> Path:
    """The serving contract's JSON form of a PNG/WAV body: {"instances": [{"b64": ...}]}."""
    out.write_text(json.dumps({"instances": [{"b64": base64.b64encode(raw.read_bytes()).decode()}]}))
    return out


def bench_model(name: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    model_dir = workdir / name
    body = json_body(workdir / MODELS[name]["body"], workdir / f"{name}.json")
    port = free_port()
    command = server_command(str(ROOT / ".venv" / "bin" / "python"), model_dir, port)
    with ServerProcess(command, f"http://127.0.0.1:{port}/ping", workdir / f"{name}-server.log", env=python_env()):
        load = uptime()
        log(f"{name}: tsung sweep {RATES[name]} req/s, {args.phase_seconds} s each ({load})")
        points = sweep(port, body, "application/json", RATES[name], args.phase_seconds, workdir)
        for p in points:
            log(
                f"  offered {p['offered_rps']:5d}  achieved {p['achieved_rps']:7.1f} req/s  p50 {p['p50_ms']:7.1f}  "
                f"p99 {p['p99_ms']:7.1f} ms  errors {p['errors']}  {'within' if p['within_slo'] else 'OVER'} the SLO"
            )
        rps = knee(points)
        log(f"{name}: open-loop knee {rps} req/s (p99 <= {SLO_MS:g} ms)")
        replays = []
        arrivals = open_loop_replay.read_arrivals(AZURE_TRACE)
        for fraction in args.replay_fractions if rps > 0 else ():
            schedule = open_loop_replay.time_scaled(arrivals, fraction * rps, args.replay_seconds)
            sent = open_loop_replay.replay(
                "127.0.0.1", port, "/invocations", body.read_bytes(), "application/json", schedule
            )
            summary = {"fraction_of_knee": fraction, **open_loop_replay.summarise(sent, SLO_MS, rps, args.window)}
            log(
                f"  replay at {fraction:.0%} of the knee: {summary['mean_rps']} req/s mean, p50 {summary['p50_ms']} "
                f"p99 {summary['p99_ms']} ms, errors {summary['errors']}; windows over capacity predicted "
                f"{summary['windows_predicted_over_capacity']}/{summary['windows']}, measured over the SLO "
                f"{summary['windows_measured_over_slo']}; client lag p99 {summary['client_lag_p99_ms']} ms"
            )
            replays.append(summary)
    return {"load_before_sweep": load, "load_after": uptime(), "sweep": points, "knee_rps": rps, "replays": replays}


def update_capacity_file(results: dict[str, Any], load: str) -> None:
    data = json.loads(CAPACITY_FILE.read_text()) if CAPACITY_FILE.is_file() else {}
    memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    for name, result in results.items():
        if result["knee_rps"] <= 0:  # no rate met the SLO: keep what the file says, the report shows why
            log(f"{name}: no open-loop knee; {CAPACITY_FILE.name} keeps its {name} entry as it was")
            continue
        entry = data.setdefault(name, {"p99_slo_ms": SLO_MS, "instance_type": INSTANCE_TYPE})
        entry.update(
            {
                "open_loop_knee_rps": result["knee_rps"],
                "vcpus": os.cpu_count(),
                "memory_gib": memory_gib,
                "open_loop_measured_at": date.today().isoformat(),
                "open_loop_source": f"tsung Poisson arrivals, knee at the achieved rate; load average {load}",
            }
        )
    CAPACITY_FILE.write_text(json.dumps(data, indent=2) + "\n")


def report(results: dict[str, Any], load: str) -> str:
    lines = ["# Open-loop capacity (make bench-capacity)", "", f"Measured with tsung on this machine, {load}.", ""]
    for name, r in results.items():
        lines += [
            f"## {name}: knee {r['knee_rps']} req/s",
            "",
            f"Before the sweep: {r.get('load_before_sweep', load)}; after the replays: {r.get('load_after', '?')}.",
            "",
            "| offered req/s | achieved req/s | p50 ms | p99 ms | errors | within SLO |",
            "|---:|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {p['offered_rps']} | {p['achieved_rps']} | {p['p50_ms']} | {p['p99_ms']} | {p['errors']} | "
            f"{'yes' if p['within_slo'] else 'no'} |"
            for p in r["sweep"]
        ]
        lines += [
            "",
            "| replay (Azure trace) | mean req/s | p50 ms | p99 ms | errors | minutes over capacity predicted | "
            "minutes over SLO measured | model agrees | client lag p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {x['fraction_of_knee']:.0%} of knee | {x['mean_rps']} | {x['p50_ms']} | {x['p99_ms']} | "
            f"{x['errors']} | "
            f"{x['windows_predicted_over_capacity']}/{x['windows']} | "
            f"{x['windows_measured_over_slo']}/{x['windows']} | "
            f"{x['model_agrees']}/{x['windows']} | {x['client_lag_p99_ms']} |"
            for x in r["replays"]
        ]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "mlp"], choices=sorted(MODELS))
    parser.add_argument("--phase-seconds", type=int, default=15)
    parser.add_argument("--replay-fractions", type=float, nargs="+", default=[0.5, 0.9])
    parser.add_argument("--replay-seconds", type=float, default=120.0)
    parser.add_argument(
        "--window", type=float, default=10.0, help="seconds per replay window (a 'minute' of the time-scaled trace)"
    )
    parser.add_argument("--rates", type=int, nargs="+", help="arrival rates to sweep (default: per model)")
    parser.add_argument("--no-capacity-file", action="store_true")
    args = parser.parse_args(argv)
    if args.rates:
        RATES.update({name: tuple(args.rates) for name in args.models})
    load = uptime()
    with tempfile.TemporaryDirectory(prefix="open-loop-") as tmp:
        workdir = Path(tmp)
        build_artifacts(workdir)
        results = {name: bench_model(name, workdir, args) for name in args.models}
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / "open_loop.json"
    if previous.is_file():  # models not run this time keep their last figures
        results = {**json.loads(previous.read_text()).get("models", {}), **results}
    (RESULTS / "open_loop.json").write_text(
        json.dumps({"load": load, "slo_ms": SLO_MS, "models": results}, indent=2) + "\n"
    )
    (RESULTS / "open_loop.md").write_text(report(results, load))
    if not args.no_capacity_file:
        update_capacity_file(results, load)
    log(f"wrote {RESULTS / 'open_loop.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
