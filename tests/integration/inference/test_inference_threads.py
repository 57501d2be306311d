"""The torch predictor's thread settings: one intra-op thread below SMALL_BATCH_ROWS rows,
`threads` from there on, the same answers either way, and OpenMP threads that sleep instead of spin.

Each check runs in a fresh interpreter: OpenMP reads OMP_WAIT_POLICY once, when torch loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.inference_fixtures import build_cnn_artifact

INFERENCE = Path(__file__).resolve().parents[3] / "inference"

SCRIPT = """
import json, os, sys, threading
import numpy as np
from inference.artifact import load_manifest
from inference.models import SMALL_BATCH_ROWS, load_predictor

out = {}

def model_thread():
    predictor = load_predictor(load_manifest(sys.argv[1]), 2)
    import torch
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 1, (SMALL_BATCH_ROWS, 3, 32, 32)).astype(np.float32)
    small = predictor("image", batch[:3])
    out["small_threads"] = torch.get_num_threads()
    big = predictor("image", batch)
    out["big_threads"] = torch.get_num_threads()
    out["max_difference"] = float(np.abs(big[:3] - small).max())
    again = predictor("image", batch[:1])
    out["again_threads"] = torch.get_num_threads()
    out["again_difference"] = float(np.abs(again - small[:1]).max())
    out["policy"] = os.environ.get("OMP_WAIT_POLICY")

thread = threading.Thread(target=model_thread, name="model-forward")
thread.start()
thread.join()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def cnn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cnn_artifact(tmp_path_factory.mktemp("artifacts") / "cnn")


def run(cnn_dir: Path, **env: str) -> dict[str, object]:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environment.update(**env)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cnn_dir)], capture_output=True, text=True, env=environment, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_small_batches_run_on_one_thread_big_ones_on_all_with_the_same_answers(cnn_dir: Path):
    out = run(cnn_dir)
    assert (out["small_threads"], out["big_threads"], out["again_threads"]) == (1, 2, 1)
    assert out["max_difference"] < 1e-5 and out["again_difference"] < 1e-5
    assert out["policy"] == "PASSIVE"


def test_an_explicit_omp_wait_policy_wins(cnn_dir: Path):
    assert run(cnn_dir, OMP_WAIT_POLICY="ACTIVE")["policy"] == "ACTIVE"
