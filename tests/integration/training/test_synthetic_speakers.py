"""The train program with a synthetic channel and a test channel: the artifact learns every real speaker
plus the synthetic ones, and evaluation.json says so."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.opt_ml import make_opt_ml
from tests.helpers.synthetic import write_audio_class_folders, write_fsdd_folder

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_refit_on_every_speaker_with_synthetic_speakers_mixed_in(tmp_path):
    tree = make_opt_ml(
        tmp_path / "ml",
        {"model": "mlp", "epochs": "4", "batch_size": "16", "synthetic_ratio": "0.5"},
        channels=("train", "test", "synthetic"),
    )
    write_fsdd_folder(tree.channel("train"), per_speaker=6)
    write_fsdd_folder(tree.channel("test"), per_speaker=4, speakers=("dan",), seed=1)
    write_audio_class_folders(tree.channel("synthetic"), per_class=10, seed=2)
    environ = {**os.environ, **tree.environ(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        [str(ROOT / "training" / "train"), "train"], env=environ, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "refit: training on every sample of the train channel (3 speakers) for 4 epochs" in result.stdout
    evaluation = json.loads((tree.output_data_dir / "evaluation.json").read_text())
    assert evaluation["split"] == "test" and evaluation["num_samples"] == 12
    training = evaluation["training"]
    assert training["refit"] is True and training["speakers"] == ["ann", "bob", "cat"]
    assert training["synthetic"] == {"clips": 30, "ratio": 0.5, "speakers": 0}
