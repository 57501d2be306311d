"""One monitoring run: a window of captures against the artifact's reference profile -> the report dict.

Every outcome is a report, never a traceback: `status` says which (docs/monitoring.md):
`ok` (the tests ran), `no_reference`, `unreadable_captures`, `empty_window`, `no_matching_captures`,
`window_too_small`. Only `ok` can set `drift`; every other status leaves every test out, so a bad
window never raises an alarm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from inference.artifact import Manifest, load_manifest
from inference.capture import model_version
from inference.errors import ArtifactError

from monitor import detectors
from monitor.captures import CaptureRead, read_captures
from monitor.embeddings import Window, decode_window, embed, statistics
from monitor.labels import LabelsError, read_labels
from monitor.profile import NoReference, Reference, load_reference
from monitor.window import TimeWindow

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MonitorSettings:
    alpha: float = 0.05
    min_window: int = 50  # rows below which no test runs (status window_too_small)
    permutations: int = 100  # p-values in steps of 1/101: fine against alpha 0.05
    components: int = 16
    max_reference: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        for key in ("min_window", "permutations", "components", "max_reference"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")


def detect(
    reference: Reference,
    embeddings: dict[str, np.ndarray],
    probabilities: np.ndarray,
    input_statistics: dict[str, np.ndarray],
    settings: MonitorSettings,
) -> dict[str, detectors.TestResult]:
    """Every test on one window. The MMD runs per embedding space, the spaces Bonferroni-corrected into
    `embedding_mmd`, the drift decision (docs/monitoring.md); the others are further signals."""
    tests: dict[str, detectors.TestResult] = {}
    spaces = sorted(set(reference.embeddings) & set(embeddings))
    per_space = {
        space: detectors.mmd_test(
            reference.embeddings[space],
            embeddings[space],
            alpha=settings.alpha,
            components=settings.components,
            permutations=settings.permutations,
            max_reference=settings.max_reference,
            seed=settings.seed,
            name=f"mmd_{space}",
        )
        for space in spaces
    }
    p_value = detectors.bonferroni({k: v.p_value for k, v in per_space.items()})
    tests["embedding_mmd"] = detectors.TestResult(
        name="embedding_mmd",
        p_value=p_value,
        drift=p_value < settings.alpha,
        statistic=max((r.statistic for r in per_space.values()), default=0.0),
        details={"correction": "bonferroni", "spaces": {k: v.as_dict() for k, v in per_space.items()}},
    )
    tests["softmax_ks"] = detectors.ks_per_output(
        reference.probabilities, probabilities, reference.class_names, settings.alpha
    )
    window_counts = np.bincount(probabilities.argmax(axis=1), minlength=len(reference.class_names))
    tests["class_mix_chi2"] = detectors.class_mix_test(
        reference.class_counts, window_counts, reference.class_names, settings.alpha
    )
    if set(reference.statistics) & set(input_statistics):
        tests["input_statistics_ks"] = detectors.statistics_test(reference.statistics, input_statistics, settings.alpha)
    return tests


def _window_summary(
    read: CaptureRead, other_version: int, window: Window | None, outside_time_window: int = 0
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "files": read.files,
        "captures": len(read.captures),
        "outside_time_window": outside_time_window,
        "bad_lines": read.bad_lines,
        "not_json_lines": read.not_json_lines,
        "other_model_version": other_version,
        "problems": read.problems,
    }
    times = sorted(c.time for c in read.captures if c.time)
    if times:
        summary["first_time"], summary["last_time"] = times[0], times[-1]
    if window is not None:
        summary.update(rows=window.rows, skipped=window.skipped, problems=read.problems + window.problems[:20])
        if window.image_sizes:
            sizes: dict[str, int] = {}
            for w, h in window.image_sizes:
                sizes[f"{w}x{h}"] = sizes.get(f"{w}x{h}", 0) + 1
            summary["image_sizes"] = dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:10])
    return summary


def _result(status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "status": status, "message": message, "drift": False, **extra}


def monitor(
    model_dir: Path,
    capture_paths: list[Path],
    labels_path: Path | None = None,
    settings: MonitorSettings | None = None,
    window_time: TimeWindow | None = None,
) -> dict[str, Any]:
    """The report of one window (docs/monitoring.md); raises only for a model dir that is no artifact.
    `window_time`: only captures whose time lies in it count (the scheduled job's window); the others
    are counted in `window.outside_time_window`."""
    settings = settings or MonitorSettings()
    manifest: Manifest = load_manifest(model_dir)  # ArtifactError: not a model artifact at all
    base = {"model": manifest.name, "model_dir": str(model_dir), "settings": asdict(settings)}
    try:
        reference = load_reference(model_dir)
    except NoReference as error:
        return _result("no_reference", str(error), **base)
    version = model_version(model_dir)
    base["model_version"] = version
    read = read_captures(capture_paths)
    outside = 0
    if window_time is not None:
        base["time_window"] = window_time.as_dict()
        inside = [c for c in read.captures if window_time.contains(c.time)]
        outside, read.captures = len(read.captures) - len(inside), inside
    matching = [
        c
        for c in read.captures
        if c.model_version in (None, version) and c.output.get("model") in (None, manifest.name)
    ]
    other = len(read.captures) - len(matching)
    if not read.captures:
        status = "unreadable_captures" if read.not_json_lines else "empty_window"
        message = (
            "; ".join(read.not_json_lines[:5])
            if read.not_json_lines
            else f"no captured requests in {', '.join(map(str, capture_paths))} ({read.files} files"
            + (f", {outside} outside the time window" if window_time is not None else "")
            + ")"
        )
        return _result(status, message, window=_window_summary(read, other, None, outside), **base)
    if not matching:
        return _result(
            "no_matching_captures",
            f"all {len(read.captures)} captures are of another model version or name than {manifest.name} {version}",
            window=_window_summary(read, other, None, outside),
            **base,
        )
    window = decode_window(matching, manifest)
    summary = _window_summary(read, other, window, outside)
    if window.rows < settings.min_window:
        return _result(
            "window_too_small",
            f"{window.rows} inputs in the window; the tests need at least {settings.min_window} (min_window)",
            window=summary,
            **base,
        )
    probabilities = np.concatenate(window.probabilities)
    embeddings: dict[str, list[np.ndarray]] = {}
    stats: dict[str, list[np.ndarray]] = {}
    sample_rate = getattr(manifest.input, "sample_rate", None)
    for entry, batches in window.inputs.items():
        inputs = np.concatenate(batches)
        for space, values in embed(model_dir, reference.model, entry, inputs).items():
            embeddings.setdefault(space, []).append(values)
        for key, values in statistics(entry, inputs, sample_rate).items():
            stats.setdefault(key, []).append(values)
    tests = detect(
        reference,
        {k: np.concatenate(v) for k, v in embeddings.items()},
        probabilities,
        {k: np.concatenate(v) for k, v in stats.items()},
        settings,
    )
    confidence = probabilities.max(axis=1)
    histogram, edges = np.histogram(confidence, bins=10, range=(0.0, 1.0))
    report = _result(
        "ok",
        "drift in the embeddings" if tests["embedding_mmd"].drift else "no drift in the embeddings",
        window=summary,
        **base,
    )
    report["drift"] = tests["embedding_mmd"].drift
    report["signals"] = sorted(name for name, test in tests.items() if test.drift)
    report["tests"] = {name: test.as_dict() for name, test in tests.items()}
    report["confidence_histogram"] = {
        "edges": [float(e) for e in edges],
        "window": [int(c) for c in histogram],
        "reference": reference.raw.get("confidence_histogram", {}).get("counts"),
        "window_mean": float(confidence.mean()),
        "reference_mean": float(reference.probabilities.max(axis=1).mean()),
    }
    report["input_statistics"] = {k: float(np.median(np.concatenate(v))) for k, v in stats.items()}
    report["quality"] = _quality(labels_path, window, probabilities, reference.class_names)
    return report


def _quality(
    labels_path: Path | None, window: Window, probabilities: np.ndarray, class_names: list[str]
) -> dict[str, Any] | None:
    if labels_path is None:
        return None
    try:
        labels = read_labels(labels_path, class_names)
    except LabelsError as error:
        return {"error": str(error)}
    rows = [i for i, key in enumerate(window.ids) if key in labels]
    if not rows:
        return {"labelled": 0, "message": f"none of the window's {window.rows} inference ids is in {labels_path}"}
    truth = np.asarray([labels[window.ids[i]] for i in rows])
    predicted = probabilities[rows].argmax(axis=1)
    return detectors.quality(truth, predicted, len(class_names))


__all__ = ["ArtifactError", "MonitorSettings", "detect", "model_version", "monitor"]
