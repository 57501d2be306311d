"""The docker CLI, as SageMaker drives a container: run, run detached, stop, inspect, logs, remove.

Every container a test starts gets a name with the session's prefix; `remove_all` removes what is left.
Published ports are on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

PREFIX = f"elasticml-test-{uuid.uuid4().hex[:8]}"
IMAGE_PREFIX = os.environ.get("IMAGE_PREFIX", "elasticml")
IMAGE_TAG = os.environ.get("IMAGE_TAG", "local")


def image(name: str) -> str:
    """`inference-pytorch`, `inference-tensorflow`, `training-pytorch` or `training-tensorflow`, as
    `make images` tags them."""
    return f"{IMAGE_PREFIX}-{name}:{IMAGE_TAG}"


def docker(*args: str, timeout_s: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout_s)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def image_exists(reference: str) -> bool:
    return docker("image", "inspect", reference, check=False, timeout_s=60).returncode == 0


def image_user(reference: str) -> str:
    """The image's USER ('' for root)."""
    return docker("image", "inspect", "-f", "{{.Config.User}}", reference, timeout_s=60).stdout.strip()


def unique_name(label: str) -> str:
    return f"{PREFIX}-{label}-{uuid.uuid4().hex[:6]}"


def run(
    reference: str, command: Sequence[str], *, options: Sequence[str] = (), timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    """`docker run --rm OPTIONS IMAGE COMMAND` to its end: exit code, stdout and stderr."""
    return docker(
        "run", "--rm", "--name", unique_name("run"), *options, reference, *command, timeout_s=timeout_s, check=False
    )


@dataclass
class Container:
    """A detached container (`docker run -d`), kept after it exits so its exit code can be read."""

    name: str

    @classmethod
    def start(
        cls, reference: str, command: Sequence[str], *, options: Sequence[str] = (), label: str = "c"
    ) -> Container:
        name = unique_name(label)
        docker("run", "-d", "--name", name, *options, reference, *command, timeout_s=120)
        return cls(name)

    def state(self) -> dict:
        return json.loads(docker("inspect", "-f", "{{json .State}}", self.name, timeout_s=60).stdout)

    def logs(self) -> str:
        result = docker("logs", self.name, check=False, timeout_s=60)
        return result.stdout + result.stderr

    def wait_for_log(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.logs():
                return
            if not self.state()["Running"]:
                raise RuntimeError(f"{self.name} exited before logging {text!r}:\n{self.logs()[-3000:]}")
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} did not log {text!r} within {timeout_s} s:\n{self.logs()[-3000:]}")

    def host_port(self, container_port: int = 8080) -> int:
        out = docker("port", self.name, f"{container_port}/tcp", timeout_s=60).stdout.split()[0]
        host, _, port = out.rpartition(":")
        assert host == "127.0.0.1", f"{self.name} published {container_port} on {host}, not loopback"
        return int(port)

    def stop(self, grace_s: int) -> tuple[int, float]:
        """`docker stop -t GRACE` (SIGTERM, SIGKILL after GRACE s): the exit code and the seconds it took."""
        started = time.monotonic()
        docker("stop", "-t", str(grace_s), self.name, timeout_s=grace_s + 60)
        return self.state()["ExitCode"], time.monotonic() - started

    def wait(self, timeout_s: float) -> int:
        return int(docker("wait", self.name, timeout_s=timeout_s).stdout.strip())

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False, timeout_s=60)


def wait_for_ping(url: str, container: Container, timeout_s: float) -> float:
    """Poll GET /ping until 200; the monotonic time it first answered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if not container.state()["Running"]:
            raise RuntimeError(f"{container.name} exited before /ping answered:\n{container.logs()[-3000:]}")
        time.sleep(0.05)
    raise TimeoutError(f"{container.name}: /ping did not answer 200 within {timeout_s} s:\n{container.logs()[-3000:]}")


def remove_all() -> None:
    names = docker("ps", "-aq", "--filter", f"name={PREFIX}", check=False, timeout_s=60).stdout.split()
    if names:
        docker("rm", "-f", *names, check=False, timeout_s=120)
