"""`python -m training` / the image's `train` program.

Exit codes: 0 success, 1 a failure the user can act on (bad data or setting: the reason names the
file or key), 2 an unexpected error (a bug; the traceback is in the log). Either way the reason is
written to `<output dir>/failure`, which SageMaker shows as the job's FailureReason.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from training.contract import OPT_ML, load_environment
from training.errors import TrainingError

log = logging.getLogger("training")
FAILURE_LIMIT = 1024  # SageMaker keeps the first 1024 characters of FailureReason


def write_failure(output_dir: Path, reason: str) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "failure").write_text(reason[:FAILURE_LIMIT] + "\n")
    except OSError as error:
        log.error("could not write the failure file in %s: %s", output_dir, error)


def _configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: Sequence[str] | None = None) -> int:
    _configure_logging()
    argv = sys.argv[1:] if argv is None else list(argv)
    output_dir = Path(os.environ.get("SM_OUTPUT_DIR") or OPT_ML / "output")
    try:
        from training.hyperparameters import parse_hyperparameters
        from training.job import run_job
        from training.loop import Preempted

        env = load_environment(argv)
        output_dir = env.output_dir
        hp = parse_hyperparameters(env.hyperparameters)
        try:
            run_job(env, hp)
        except Preempted as preempted:  # SageMaker restarts a spot job from the checkpoint
            log.info("%s; exiting", preempted)
            return 0
    except TrainingError as error:
        log.error("training failed: %s", error)
        write_failure(output_dir, f"{type(error).__name__}: {error}")
        return 1
    except Exception as error:  # a bug: keep the traceback in the log, a one-line reason for SageMaker
        traceback.print_exc()
        write_failure(output_dir, f"Unexpected error: {type(error).__name__}: {error}")
        return 2
    return 0
