"""`make bench-drift`: detection power, false-positive rate and CPU cost of the drift monitor's tests.

Per shift and window size, windows of served inputs are drawn at random from a pool (without
replacement inside a window), run through the artifact's own programs (the served model for the
probabilities a capture would hold, the embedding program the monitor runs) and tested with
`monitor.run.detect` against the reference, with the monitor's default settings. Power is the share of
shifted windows the primary test (`embedding_mmd`) flags; the false-positive rate is the share of
unshifted windows it flags. The other tests' rates are reported beside it.

- Images: the CNN's reference profile (its training job's held-out split of `cifar10-dev`) against
  windows from `cifar10-train-extra` (never trained on), clean or corrupted (benchmarks.drift.shifts).
- Audio: the MLP's 1,200 held-out clips of the three heard speakers (embedded by the same code as the
  profile), split anew at random for every window into a reference half and a window half; the window
  is drawn from that half clean (false positives) or shifted (noise at an SNR, speed), or from a speaker
  the model never heard.

CPU time is process time (all threads) on this machine, per 1,000 samples: the embedding program over
the pool, and the tests over the windows (a window's test time x 1000 / its size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from inference.artifact import load_manifest
from inference.audio import fit_length
from inference.decoding import IMAGE, WAVEFORM
from inference.models import load_predictor
from PIL import Image
from scipy.io import wavfile

from benchmarks.drift import shifts
from benchmarks.drift.models import fsdd_split
from monitor.embeddings import embed, statistics
from monitor.profile import Reference, load_reference
from monitor.run import MonitorSettings, detect

WINDOWS = (100, 500, 1000)
TESTS = ("embedding_mmd", "softmax_ks", "class_mix_chi2", "input_statistics_ks")


@dataclass
class Pool:
    """One shift's inputs, already through the model: what a window is drawn from."""

    name: str
    embeddings: dict[str, np.ndarray]
    probabilities: np.ndarray
    statistics: dict[str, np.ndarray]
    embed_cpu_s_per_1000: float

    def __len__(self) -> int:
        return len(self.probabilities)

    def take(self, rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
        return (
            {k: v[rows] for k, v in self.embeddings.items()},
            self.probabilities[rows],
            {k: v[rows] for k, v in self.statistics.items()},
        )


@dataclass
class Row:
    model: str
    shift: str
    window: int
    windows: int
    rates: dict[str, float] = field(default_factory=dict)  # test -> share of windows flagged
    detect_cpu_s: float = 0.0  # per window, mean
    embed_cpu_s_per_1000: float = 0.0
    note: str = ""

    @property
    def cpu_s_per_1000(self) -> float:
        return self.embed_cpu_s_per_1000 + self.detect_cpu_s * 1000 / self.window


def through_model(name: str, model_dir: Path, entry: str, inputs: np.ndarray, predictor: Any, rate: int | None) -> Pool:
    start = time.process_time()
    embeddings = embed(model_dir, "cnn" if entry == IMAGE else "mlp", entry, inputs)
    embed_cpu = time.process_time() - start
    probabilities = np.concatenate([predictor(entry, inputs[i : i + 256]) for i in range(0, len(inputs), 256)])
    return Pool(name, embeddings, probabilities, statistics(entry, inputs, rate), embed_cpu * 1000 / len(inputs))


@dataclass
class Resplit:
    """Audio: a fresh reference per window, half of the held-out clips at random; the window comes from
    the other half (`paired`: the shift of those same clips) or from anywhere in its pool (a speaker
    never heard). With one fixed split every window of 500 out of 600 clips would repeat one comparison."""

    clean: Pool
    class_names: list[str]
    paired: bool

    def draw(self, rng: np.random.Generator, pool: Pool, window: int) -> tuple[Reference, np.ndarray]:
        order = rng.permutation(len(self.clean))
        half = len(order) // 2
        e, p, st = self.clean.take(order[:half])
        candidates = order[half:] if self.paired else np.arange(len(pool))
        return Reference("mlp", self.class_names, e, p, st, {}), rng.choice(candidates, window, replace=False)

    def room(self, pool: Pool) -> int:
        return len(self.clean) - len(self.clean) // 2 if self.paired else len(pool)


def measure(
    model: str,
    reference: Reference | Resplit,
    pool: Pool,
    window: int,
    count: int,
    settings: MonitorSettings,
) -> Row:
    row = Row(model, pool.name, window, 0, embed_cpu_s_per_1000=pool.embed_cpu_s_per_1000)
    room = reference.room(pool) if isinstance(reference, Resplit) else len(pool)
    if window > room:
        row.note = f"not measured: {room} inputs to draw a window from"
        return row
    rng = np.random.default_rng(window)
    flags = {t: 0 for t in TESTS}
    spent = 0.0
    for index in range(count):
        if isinstance(reference, Resplit):
            window_reference, rows = reference.draw(rng, pool, window)
        else:
            window_reference, rows = reference, rng.choice(len(pool), window, replace=False)
        embeddings, probabilities, stats = pool.take(rows)
        start = time.process_time()
        tests = detect(
            window_reference, embeddings, probabilities, stats, MonitorSettings(**{**settings.__dict__, "seed": index})
        )
        spent += time.process_time() - start
        for name, result in tests.items():
            flags[name] += int(result.drift)
    row.windows = count
    row.rates = {t: flags[t] / count for t in TESTS}
    row.detect_cpu_s = spent / count
    return row


def load_cifar(folder: Path, count: int, seed: int) -> np.ndarray:
    files = sorted(folder.glob("*/*.jpg"))
    chosen = np.random.default_rng(seed).choice(len(files), min(count, len(files)), replace=False)
    return np.stack([np.asarray(Image.open(files[i]).convert("RGB")) for i in sorted(chosen)])


def image_rows(
    data: Path,
    model_dir: Path,
    windows: int,
    pool_size: int,
    severities: tuple[int, ...],
    every_size: tuple[int, ...],
    other_windows: int,
    full: tuple[str, ...],
) -> list[Row]:
    """Every corruption at every severity at window 500; at the severities in `every_size` at every window size."""
    manifest = load_manifest(model_dir)
    predictor = load_predictor(manifest, threads=os.cpu_count() or 1)
    reference = load_reference(model_dir)
    clean = load_cifar(data / "cifar10-train-extra", pool_size, seed=0)
    settings = MonitorSettings()
    rows: list[Row] = []
    rng = np.random.default_rng(1)
    shifted: list[tuple[str, np.ndarray]] = [("none", clean)]
    for name, corrupt in shifts.IMAGE_SHIFTS.items():
        shifted.extend((f"{name}_{s}", corrupt(clean, s, rng)) for s in severities)
    for name, images in shifted:
        pixels = images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        pool = through_model(name, model_dir, IMAGE, pixels, predictor, None)
        severity = int(name.rsplit("_", 1)[1]) if name != "none" else None
        count = windows if name == "none" or name in full else other_windows
        for window in WINDOWS if severity is None or severity in every_size else (500,):
            rows.append(measure("cnn", reference, pool, window, count, settings))
            print(_line(rows[-1]), flush=True)
    return rows


def _clip(path: Path) -> np.ndarray:
    rate, data = wavfile.read(path)
    if rate != 8000 or data.dtype != np.int16:
        raise ValueError(f"{path}: expected 8 kHz 16-bit (fsdd-dev), got {rate} Hz {data.dtype}")
    return data.astype(np.float32) / 32768.0


def audio_rows(data: Path, model_dir: Path, windows: int) -> list[Row]:
    manifest = load_manifest(model_dir)
    predictor = load_predictor(manifest, threads=os.cpu_count() or 1)
    num_samples, rate = manifest.audio.num_samples, manifest.audio.sample_rate
    split = fsdd_split(data / "fsdd-dev")
    pool_clips = [_clip(p) for p in split["test"]]
    unheard = [_clip(p) for p in split["unheard"]]

    def fitted(clips: list[np.ndarray]) -> np.ndarray:
        return np.stack([fit_length(c, num_samples) for c in clips]).astype(np.float32)

    clean = through_model("none", model_dir, WAVEFORM, fitted(pool_clips), predictor, rate)
    rng = np.random.default_rng(2)
    shifted: list[tuple[str, list[np.ndarray]]] = []
    shifted += [(f"noise_snr_{snr}dB", [shifts.add_noise(c, snr, rng) for c in pool_clips]) for snr in (20, 10, 5)]
    shifted += [(name, [shifts.change_speed(c, name) for c in pool_clips]) for name in shifts.SPEEDS]
    shifted += [("unheard_speaker", unheard)]
    rows: list[Row] = []
    settings = MonitorSettings()
    names = list(manifest.class_names)
    for name, clips in [("none", None), *shifted]:
        pool = clean if clips is None else through_model(name, model_dir, WAVEFORM, fitted(clips), predictor, rate)
        resplit = Resplit(clean, names, paired=name != "unheard_speaker")
        for window in WINDOWS:
            rows.append(measure("mlp", resplit, pool, window, windows, settings))
            print(_line(rows[-1]), flush=True)
    return rows


def _line(row: Row) -> str:
    if row.note:
        return f"{row.model} {row.shift:22s} w={row.window:5d} {row.note}"
    rates = " ".join(f"{t}={row.rates[t]:.2f}" for t in TESTS if t in row.rates)
    return f"{row.model} {row.shift:22s} w={row.window:5d} n={row.windows} {rates} cpu/1000={row.cpu_s_per_1000:.2f}s"


def markdown(rows: list[Row], context: dict[str, Any]) -> str:
    out = [
        f"# Drift monitor benchmark, {context['date']}",
        "",
        f"Command: `{context['command']}`. Machine: {context['machine']}; load average before "
        f"{context['load_before']}, after {context['load_after']} (other helpers were running). "
        f"alpha {context['alpha']}; {context['windows']} windows per cell; monitor defaults "
        f"({context['settings']}). Wall time {context['wall_s']:.0f} s.",
        "",
        "Rates are the share of windows each test flagged: on `none` that is the false-positive rate, on "
        "a shift the power. `embedding_mmd` is the monitor's drift decision; the others are its further "
        "signals. CPU s/1000 = the embedding program per 1,000 inputs + the tests per 1,000 inputs "
        "(process time, both cores).",
        "",
    ]
    for model in ("cnn", "mlp"):
        selected = [r for r in rows if r.model == model]
        if not selected:
            continue
        out += [
            f"## {model}",
            "",
            "| shift | window | windows | embedding_mmd | softmax_ks | class_mix_chi2 | input_statistics_ks "
            "| CPU s/1000 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in selected:
            if r.note:
                out.append(f"| {r.shift} | {r.window} | 0 | {r.note} | | | | |")
                continue
            cells = " | ".join(f"{r.rates.get(t, float('nan')):.2f}" for t in TESTS)
            out.append(f"| {r.shift} | {r.window} | {r.windows} | {cells} | {r.cpu_s_per_1000:.2f} |")
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--models", type=Path, default=Path("benchmarks/drift/.models"))
    parser.add_argument("--windows", type=int, default=50)
    parser.add_argument("--pool", type=int, default=3000, help="unshifted CIFAR images per pool")
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--every-size", default="3", help="severities measured at every window size (else 500)")
    parser.add_argument("--only", choices=("cnn", "mlp"), default=None)
    parser.add_argument("--other-windows", type=int, default=None, help="CNN windows per cell outside --full")
    parser.add_argument("--full", default="gaussian_noise_3", help="CNN shifts measured with --windows windows")
    parser.add_argument("--merge", action="store_true", help="write drift-<date>.md from the -cnn and -mlp parts")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.out)
    given = sys.argv[1:] if argv is None else argv
    started, load_before = time.monotonic(), os.getloadavg()
    rows: list[Row] = []
    if args.only != "cnn":
        rows += audio_rows(args.data, args.models / "mlp" / "model", args.windows)
    if args.only != "mlp":
        severities = tuple(int(s) for s in args.severities.split(","))
        every = tuple(int(s) for s in args.every_size.split(","))
        other = args.other_windows or args.windows
        full = tuple(args.full.split(","))
        rows += image_rows(
            args.data, args.models / "cnn" / "model", args.windows, args.pool, severities, every, other, full
        )
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    context = {
        "date": date,
        "command": "make bench-drift" + (f" BENCH_ARGS='{' '.join(given)}'" if given else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_before": " ".join(f"{x:.1f}" for x in load_before),
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "alpha": MonitorSettings().alpha,
        "windows": args.windows,
        "settings": ", ".join(f"{k}={v}" for k, v in MonitorSettings().__dict__.items()),
        "wall_s": time.monotonic() - started,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = (f"-{args.only}" if args.only else "") + ("" if args.windows >= 50 else "-quick")
    (args.out / f"drift-{date}{suffix}.md").write_text(markdown(rows, context))
    raw = [{**r.__dict__, "cpu_s_per_1000": r.cpu_s_per_1000} for r in rows]
    (args.out / f"drift-{date}{suffix}.json").write_text(json.dumps({"context": context, "rows": raw}, indent=1) + "\n")
    print(f"wrote {args.out / f'drift-{date}{suffix}.md'}")
    return 0


def merge(out: Path) -> int:
    """The -mlp and -cnn parts of today (run one after the other, or apart) as one drift-<date>.md."""
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    rows: list[Row] = []
    contexts = []
    for part in ("mlp", "cnn"):
        path = out / f"drift-{date}-{part}.json"
        data = json.loads(path.read_text())
        contexts.append(data["context"])
        for raw in data["rows"]:
            raw.pop("cpu_s_per_1000")
            rows.append(Row(**raw))
    text = "\n".join(
        markdown([r for r in rows if r.model == m], c) for m, c in zip(("mlp", "cnn"), contexts, strict=True)
    )
    (out / f"drift-{date}.md").write_text(text)
    print(f"wrote {out / f'drift-{date}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
