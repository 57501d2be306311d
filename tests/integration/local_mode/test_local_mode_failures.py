"""Bad input and interruptions: a one-line cause, what to do, a non-zero exit, nothing left running."""

import signal
import socket
import subprocess
import time

import pytest

from local_mode.serving import LocalServer
from tests.helpers.local_mode import (
    REPO,
    free_port,
    local_mode_command,
    port_is_bound,
    processes_mentioning,
    run_local_mode,
)


def error_lines(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    return lines


def test_a_missing_images_folder_is_named_with_what_to_do(tmp_path):
    result = run_local_mode(tmp_path / "local", free_port(), "--images", str(tmp_path / "nope"))
    assert result.returncode == 1
    cause, remedy = error_lines(result)
    assert cause == f"error: IMAGES={tmp_path / 'nope'}: no such folder"
    assert remedy.startswith("  what to do:") and "<class>" in remedy
    assert not (tmp_path / "local" / "opt_ml").exists()


def test_an_empty_audio_folder_is_named_with_what_to_do(tmp_path):
    (tmp_path / "audio").mkdir()
    result = run_local_mode(tmp_path / "local", free_port(), "--audio", str(tmp_path / "audio"))
    assert result.returncode == 1
    cause, remedy = error_lines(result)
    assert cause.startswith(f"error: AUDIO={tmp_path / 'audio'}: empty")
    assert "<label>_<speaker>_<index>.wav" in remedy


def test_a_port_in_use_stops_the_run_before_any_training(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = run_local_mode(tmp_path / "local", port)
    assert result.returncode == 1
    cause, remedy = error_lines(result)
    assert cause == f"error: port {port} is already in use on 127.0.0.1"
    assert f"PORT={port + 1}" in remedy
    assert time.monotonic() - started < 30 and not (tmp_path / "local" / "opt_ml").exists()


@pytest.mark.slow
def test_a_failed_training_shows_the_jobs_failure_reason(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "images" / label / f"{i}.png").write_bytes(b"not a png at all")
    output = tmp_path / "local"
    result = run_local_mode(output, free_port(), "--images", str(tmp_path / "images"))
    assert result.returncode == 1
    cause, remedy = error_lines(result)
    failure = (output / "opt_ml" / "cnn" / "output" / "failure").read_text().strip()
    assert failure.startswith("DataError:") and "not a readable image" in failure
    assert cause == f"error: training the cnn model failed: {failure}"
    assert str(output / "logs" / "cnn-train.log") in remedy
    assert processes_mentioning(str(output)) == []


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_during_training_stops_the_job_too(tmp_path, signum, code):
    output = tmp_path / "local"
    # As a terminal delivers Ctrl-C (a shell's background job would inherit SIGINT ignored).
    process = subprocess.Popen(
        local_mode_command(output, free_port()),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait until the training job runs
        if line.startswith("[train cnn]"):
            break
    deadline = time.monotonic() + 60
    while not processes_mentioning(str(output), exclude=(process.pid,)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(str(output), exclude=(process.pid,)), "the training job never started"
    process.send_signal(signum)
    assert process.wait(60) == code
    assert "every process local mode started is stopped" in process.stderr.read()
    assert processes_mentioning(str(output)) == []


@pytest.mark.slow
def test_the_server_is_stopped_when_the_block_fails(smoke_run, tmp_path):
    port = free_port()
    server = LocalServer(smoke_run.output / "model" / "cnn", port, tmp_path / "serve.log")
    with pytest.raises(KeyboardInterrupt):
        with server:
            assert port_is_bound(port)
            raise KeyboardInterrupt
    assert server.process is not None and server.process.poll() == 0
    assert not port_is_bound(port)
