"""Child processes of local mode: a whole process group goes, even a part that ignores SIGTERM."""

import os
import signal
import subprocess
import time

import pytest

from local_mode import processes


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/status") as status:
        return "zombie" not in status.read()


def test_stop_ends_the_group_including_a_grandchild_that_ignores_sigterm(tmp_path):
    pid_file = tmp_path / "grandchild"
    script = f"trap '' TERM; sh -c 'trap \"\" TERM; echo $$ > {pid_file}; sleep 60' & wait"
    child = processes.start(["sh", "-c", script], env=os.environ, cwd=tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert os.getpgid(grandchild) == child.pid != os.getpgid(0)  # its own group, not the caller's
    started = time.monotonic()
    code = processes.stop(child, grace_s=1.0)
    assert code == -signal.SIGKILL and time.monotonic() - started < 10
    time.sleep(0.2)
    assert not alive(grandchild)


def test_sigterm_and_sighup_raise_interrupted_inside_the_block_only():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    with processes.interrupts_as_exceptions():
        with pytest.raises(processes.Interrupted) as raised:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert raised.value.signum == signal.SIGTERM
    assert {signum: signal.getsignal(signum) for signum in before} == before
