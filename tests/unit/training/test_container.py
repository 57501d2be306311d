import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_training_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(ROOT / "training" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_train_program_runs_the_package(tmp_path):
    """`train` (what `docker run IMAGE train` executes) is `python -m training`: a bad hyperparameter gets the
    package's own failure file and exit status, from any directory."""
    program = ROOT / "training" / "train"
    assert os.access(program, os.X_OK)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SM_OUTPUT_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [str(program), "--model", "rnn"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert (tmp_path / "failure").read_text().startswith("ConfigError: hyperparameter 'model' must be one of")
