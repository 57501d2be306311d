import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_training_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(ROOT / "training" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_train_program_is_executable_and_runs_the_package():
    program = ROOT / "training" / "train"
    assert os.access(program, os.X_OK)
    assert "python -m training" in program.read_text()
