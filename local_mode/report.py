"""The run's report: printed as a short summary and written as JSON (`local/report.json`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelReport:
    model: str
    data: str
    train_samples: int
    held_out_samples: int
    train_seconds: float
    epochs_completed: int
    training_evaluation: dict[str, Any]  # from evaluation.json: the job's own figures on the same held-out set
    server: dict[str, Any] = field(default_factory=dict)  # InvocationSummary.as_dict()
    server_exit_code: int | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    explanations: list[dict[str, Any]] = field(default_factory=list)  # local_mode.invocation.Explanation


@dataclass
class Report:
    started_at: str
    total_seconds: float = 0.0
    steps_seconds: dict[str, float] = field(default_factory=dict)
    models: list[ModelReport] = field(default_factory=list)
    port: int = 0
    smoke: bool = False

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def format_summary(report: Report, report_path: Path, root: Path) -> str:
    lines = [
        f"local mode finished in {report.total_seconds:.0f} s ("
        + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in report.steps_seconds.items())
        + ")"
    ]
    for model in report.models:
        server, evaluation, latency = model.server, model.training_evaluation, model.server.get("latency_ms", {})
        lines += [
            "",
            f"{model.model}: {model.data}",
            f"  accuracy through the server  {server.get('accuracy', 0):.3f} on {server.get('num_samples', 0)} "
            f"held-out samples ({server.get('errors', 0)} errors); the training job's evaluation.json: "
            f"{evaluation.get('accuracy', 0):.3f} (macro F1 {evaluation.get('macro_f1', 0):.3f})",
            f"  latency (ms)                 p50 {latency.get('p50', 0):.1f}  p95 {latency.get('p95', 0):.1f}  "
            f"p99 {latency.get('p99', 0):.1f}  via {server.get('url', '')}",
            f"  trained {model.epochs_completed} epochs on {model.train_samples} files in {model.train_seconds:.0f} s",
        ]
        warning = (evaluation.get("learning_check") or {}).get("warning")
        if warning:
            lines.append(f"  WARNING: {warning}")
        lines += [
            f"  explained {Path(e['file']).name} ({e['label']}) -> {e['predicted']}: {_relative(e['png'], root)}"
            for e in model.explanations
        ]
        width = max(len(name) for name in model.artifacts)
        lines += [f"  {name.ljust(width)}  {_relative(path, root)}" for name, path in model.artifacts.items()]
    lines += ["", f"report: {_relative(str(report_path), root)}"]
    return "\n".join(lines)
