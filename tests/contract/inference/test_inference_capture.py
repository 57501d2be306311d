"""The server's own data capture (inference.capture) over a real socket: records in SageMaker's capture
shape that the monitor reads back, sampling, and a bad setting refused at start."""

from __future__ import annotations

import base64
import json
import random
import time
import urllib.request

import numpy as np
import pytest
from inference.capture import CaptureError, CaptureSettings, CaptureWriter, model_version

from monitor.captures import read_captures
from tests.helpers.inference_fixtures import png_bytes, random_pixels
from tests.helpers.inference_server import ServerProcess


def invoke(url: str, body: bytes, content_type: str, inference_id: str) -> dict:
    request = urllib.request.Request(
        f"{url}/invocations",
        data=body,
        headers={"Content-Type": content_type, "X-Amzn-SageMaker-Inference-Id": inference_id},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for_records(folder, count, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        read = read_captures([folder])
        if len(read.captures) >= count:
            return read
        time.sleep(0.1)
    return read_captures([folder])


def test_a_capturing_server_writes_records_the_monitor_reads(cnn_dir, tmp_path):
    captures = tmp_path / "captures"
    server = ServerProcess(cnn_dir, tmp_path / "server.log", env={"INFERENCE_CAPTURE_DIR": str(captures)}).start()
    try:
        bodies = [png_bytes(random_pixels(seed)) for seed in range(3)]
        answers = [invoke(server.url, body, "image/png", f"id-{i}") for i, body in enumerate(bodies)]
        read = wait_for_records(captures, 3)
    finally:
        assert server.stop() == 0, server.log()
    assert read.bad_lines == 0 and len(read.captures) == 3
    by_id = {c.inference_id: c for c in read.captures}
    assert set(by_id) == {"id-0", "id-1", "id-2"}
    for i, body in enumerate(bodies):
        capture = by_id[f"id-{i}"]
        assert capture.body == body and capture.content_type == "image/png"
        assert capture.output == answers[i]
        assert capture.model_version == model_version(cnn_dir)
    files = list(captures.rglob("*.jsonl"))
    assert files and all(len(f.relative_to(captures).parts) == 5 for f in files)  # yyyy/mm/dd/hh/file


def test_no_capture_folder_means_no_capture(cnn_server, tmp_path):
    invoke(cnn_server.url, png_bytes(random_pixels(0)), "image/png", "x")  # the session server has none
    assert "capturing" not in cnn_server.log()


def test_sampling_keeps_about_the_asked_share(tmp_path):
    writer = CaptureWriter(CaptureSettings(tmp_path, percent=20), "v", rng=random.Random(0))
    for i in range(1000):
        writer.offer(b"x", "image/png", b'{"predictions": []}', str(i))
    writer.close()
    assert 150 <= writer.captured <= 250
    lines = [line for f in tmp_path.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(lines) == writer.written == writer.captured
    record = json.loads(lines[0])
    assert base64.b64decode(record["captureData"]["endpointInput"]["data"]) == b"x"
    assert record["eventMetadata"]["modelVersion"] == "v"


@pytest.mark.parametrize("value", ["abc", "101", "-1"])
def test_a_bad_percent_is_refused_naming_the_variable(value, tmp_path):
    with pytest.raises(CaptureError, match="INFERENCE_CAPTURE_PERCENT"):
        CaptureSettings.from_env({"INFERENCE_CAPTURE_DIR": str(tmp_path), "INFERENCE_CAPTURE_PERCENT": value})


def test_a_full_queue_drops_records_instead_of_blocking(tmp_path, monkeypatch):
    import threading

    import inference.capture as capture

    release = threading.Event()
    monkeypatch.setattr(capture, "QUEUE_SIZE", 2)
    monkeypatch.setattr(CaptureWriter, "_write_loop", lambda self: release.wait(10))  # a writer stuck on disk
    writer = CaptureWriter(CaptureSettings(tmp_path), "v")
    start = time.monotonic()
    for i in range(50):
        writer.offer(np.zeros(10).tobytes(), "application/x-npy", b"{}", str(i))
    assert time.monotonic() - start < 1.0
    assert (writer.captured, writer.dropped) == (2, 48)
    release.set()


def test_the_server_refuses_a_bad_capture_setting_at_start(cnn_dir, monkeypatch, capsys):
    from inference.__main__ import main

    monkeypatch.setenv("INFERENCE_CAPTURE_PERCENT", "150")
    assert main(["serve", "--model-dir", str(cnn_dir)]) == 2
    assert "INFERENCE_CAPTURE_PERCENT" in capsys.readouterr().err
