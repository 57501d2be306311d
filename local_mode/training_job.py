"""Run the training container's `train` program against an /opt/ml tree, as SageMaker runs it.

The program is `training/train` (what `docker run IMAGE train` executes) with the SM_* variables
pointing into the tree (the `training` package is installed in the venv, as the image has it on its path).
Its log goes to a file; the
per-epoch metric lines (the ones SageMaker scrapes) drive the progress display.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from local_mode import processes
from local_mode.errors import LocalModeError
from local_mode.opt_ml import OptMl
from local_mode.paths import REPO, TRAIN_PROGRAM, python_bin_dir
from local_mode.progress import Progress

# SM_* variables a user's shell may hold that would point the job outside its tree.
STRAY_VARIABLES = ("SM_OUTPUT_DATA_DIR", "SM_INPUT_CONFIG_DIR", "SM_HOSTS", "SM_CURRENT_HOST")
EPOCH_LINE = re.compile(
    r"^epoch=(?P<epoch>\d+) epochs=(?P<epochs>\d+) .*val_accuracy=(?P<val>[0-9.]+)"
    r".* epoch_time_s=(?P<time>[0-9.]+)"
)
FINAL_LINE = re.compile(r"^final split=(?P<split>\S+) num_samples=(?P<n>\d+) accuracy=(?P<accuracy>[0-9.]+)")
# The job's line when the evaluated model learned nothing (docs/contracts.md, metrics log lines).
LEARNING_WARNING_LINE = re.compile(r"^warning: learning_check: (?P<text>.+)$")


@dataclass(frozen=True)
class TrainingResult:
    model: str
    seconds: float
    epochs_completed: int
    log: Path


def train_environment(tree: OptMl) -> dict[str, str]:
    """The job's environment: SM_* paths into the tree; SM_* left in the user's shell must not redirect it."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in STRAY_VARIABLES and not key.startswith("SM_CHANNEL_")
    }
    return {
        **inherited,
        **tree.environ(),
        "PATH": f"{python_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }


def _failure_reason(tree: OptMl, log: Path, code: int) -> str:
    if tree.failure_file.exists():
        return tree.failure_file.read_text().strip()
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
    return f"the train program exited with code {code}" + (f": {tail[0]}" if tail else "")


def run_training(model: str, tree: OptMl, log: Path, epochs: int, timeout_s: float) -> TrainingResult:
    """Run one job to completion; a failed job raises LocalModeError with its `output/failure` reason."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    completed = 0
    timed_out = threading.Event()
    with open(log, "wb") as sink, Progress(f"train {model}", epochs) as progress:
        process = processes.start(
            [str(TRAIN_PROGRAM), "train"], env=train_environment(tree), cwd=REPO, stdout=subprocess.PIPE
        )

        def on_timeout() -> None:
            timed_out.set()
            processes.stop(process)

        watchdog = threading.Timer(timeout_s, on_timeout)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                sink.write(raw)
                sink.flush()
                line = raw.decode(errors="replace").strip()
                if match := EPOCH_LINE.match(line):
                    completed = int(match["epoch"])
                    progress.set_total(int(match["epochs"]))
                    progress.advance(
                        note=f"epoch {completed}/{match['epochs']} val_accuracy={match['val']} ({match['time']} s)"
                    )
                elif match := FINAL_LINE.match(line):
                    progress.line(
                        f"train {model}: {match['split']} accuracy {match['accuracy']} on {match['n']} samples"
                    )
                elif match := LEARNING_WARNING_LINE.match(line):
                    progress.line(f"train {model}: WARNING: {match['text']}")
            code = process.wait()
        finally:
            watchdog.cancel()
            processes.stop(process)
    if timed_out.is_set():
        raise LocalModeError(
            f"training the {model} model took over {timeout_s:.0f} s and was stopped",
            f"lower its epochs or time_budget_s; the log is {log}",
        )
    if code != 0:
        raise LocalModeError(
            f"training the {model} model failed: {_failure_reason(tree, log, code)}",
            f"fix the data or setting it names and run again; the full log is {log}",
        )
    return TrainingResult(model=model, seconds=time.monotonic() - started, epochs_completed=completed, log=log)
