"""Start-up: settings from SageMaker's variables alone; a broken artifact stops the server with a reason."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from tests.helpers.inference_server import free_port


def test_environment_alone_configures_the_server(cnn_dir, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(cnn_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "INFERENCE_HOST": "127.0.0.1",
        "INFERENCE_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "inference", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "server exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "no /ping answer within 60 s"
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_a_broken_model_file_stops_the_server_with_its_name(cnn_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(cnn_dir, broken)
    (broken / "model.pt2").write_bytes(b"not a torch.export archive")
    env = dict(os.environ)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "inference",
            "serve",
            "--model-dir",
            str(broken),
            "--port",
            str(free_port()),
            "--host",
            "127.0.0.1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "model.pt2" in result.stderr and "cannot load" in result.stderr


def test_a_missing_manifest_stops_the_server_before_loading_anything(tmp_path):
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "inference", "serve", "--model-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "manifest.json not found" in result.stderr
