"""The serving image run as the Kubernetes manifests run it: `docker run` with the Deployment's security
context (its uid and gid, read-only root, every capability dropped, no privilege escalation, Docker's
default seccomp profile for RuntimeDefault), a tmpfs where the pod mounts an emptyDir, the model where
the init container unpacks it (read-only), the container's environment and CPU and memory limits. The
probes are hit at the manifest's periods; then preStop and SIGTERM under load, as the kubelet does it:
every request is answered and the container exits 0 inside terminationGracePeriodSeconds.

The init container's S3 download is not run here (no AWS): tests/unit/inference/test_fetch.py unpacks
a real model.tar.gz through it.
"""

from __future__ import annotations

import io
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from cdk8s import App

from k8s.chart import MODEL_DIR, Options, ServingChart
from k8s.source import environment_settings
from tests.helpers import docker_cli
from tests.helpers.containers import SERVING_IMAGE, InFlightRequests

# dev runs both models as scale-to-zero copies (1 core, 1 GiB): the smallest pods the manifests make.
ENV = "dev"


@pytest.fixture(scope="session")
def model_dirs(cnn_run, mlp_run) -> dict[str, Path]:
    for run in (cnn_run, mlp_run):
        assert run.exit_code == 0, run.output[-3000:]
    return {"cnn": cnn_run.model_dir, "mlp": mlp_run.model_dir}


def deployment(model: str, image: str) -> dict:
    settings = environment_settings(ENV)
    serving = next(s for s in settings.serving if s.model == model)
    chart = ServingChart(App(), model, settings=settings, serving=serving, image=image, options=Options())
    return next(d for d in chart.to_json() if d["kind"] == "Deployment")


def _quantity_bytes(text: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def _cpus(text: str) -> float:
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def docker_options(deploy: dict, model_dir: Path) -> list[str]:
    """`docker run` options for the Deployment's serving container (the pod's rules, one by one)."""
    spec = deploy["spec"]["template"]["spec"]
    container = spec["containers"][0]
    context = {**spec["securityContext"], **container["securityContext"]}
    options = [
        "--user",
        f"{context['runAsUser']}:{context['runAsGroup']}",
        "--group-add",
        str(spec["securityContext"]["fsGroup"]),
    ]
    if context["readOnlyRootFilesystem"]:
        options.append("--read-only")
    assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"]
    options += ["--cap-drop", "ALL"]
    if context["allowPrivilegeEscalation"] is False:
        options += ["--security-opt", "no-new-privileges"]
    # RuntimeDefault is the runtime's default profile: Docker applies its own unless told otherwise.
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for mount in container["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]], mount
        if mount["mountPath"] == MODEL_DIR:  # filled by the init container, mounted read-only
            assert mount.get("readOnly") is True
            options += ["-v", f"{model_dir}:{MODEL_DIR}:ro"]
        else:
            size = _quantity_bytes(volumes[mount["name"]]["emptyDir"]["sizeLimit"])
            options += ["--tmpfs", f"{mount['mountPath']}:rw,noexec,nosuid,size={size}"]
    limits = container["resources"]["limits"]
    options += [
        "--cpus",
        f"{min(_cpus(limits['cpu']), os.cpu_count() or 1):g}",
        "--memory",
        str(_quantity_bytes(limits["memory"])),
    ]
    options += ["--memory-swap", str(_quantity_bytes(limits["memory"]))]  # no swap, as a kubelet runs it
    for variable in container["env"]:
        options += ["-e", f"{variable['name']}={variable['value']}"]
    port = container["ports"][0]["containerPort"]
    return [*options, "-p", f"127.0.0.1::{port}"]


def get(url: str, timeout_s: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return -1


@dataclass
class Prober:
    """One probe hit at its period, as the kubelet does, until stopped: every answer recorded."""

    url: str
    probe: dict
    answers: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.answers.append(
                (time.monotonic(), get(self.url + self.probe["httpGet"]["path"], self.probe["timeoutSeconds"]))
            )
            self.stop.wait(self.probe["periodSeconds"])


def start_pod(image: str, model: str, model_dir: Path) -> tuple[dict, docker_cli.Container, str, float]:
    """The container started as the manifest says, and its startup probe run at the manifest's period
    until it passes (within failureThreshold tries): the URL and the seconds from `docker run` to it."""
    deploy = deployment(model, image)
    container_spec = deploy["spec"]["template"]["spec"]["containers"][0]
    started = time.monotonic()
    container = docker_cli.Container.start(
        image, container_spec["args"], label=f"pod-{model}", options=docker_options(deploy, model_dir)
    )
    try:
        url = f"http://127.0.0.1:{container.host_port(container_spec['ports'][0]['containerPort'])}"
        startup = container_spec["startupProbe"]
        tries = 0
        while True:
            tries += 1
            if get(url + startup["httpGet"]["path"], startup["timeoutSeconds"]) == 200:
                break
            assert container.state()["Running"], container.logs()[-3000:]
            assert tries < startup["failureThreshold"], (
                f"startup probe failed {tries} times:\n{container.logs()[-3000:]}"
            )
            time.sleep(startup["periodSeconds"])
    except Exception:
        container.remove()
        raise
    seconds = time.monotonic() - started
    print(f"{model}: startup probe passed on try {tries} of {startup['failureThreshold']}, {seconds:.1f} s after run")
    return deploy, container, url, time.monotonic() - started


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_pod_starts_within_its_startup_probe_and_passes_readiness_and_liveness(images, model_dirs, model):
    deploy, container, url, _ = start_pod(images[SERVING_IMAGE[model]], model, model_dirs[model])
    serve = deploy["spec"]["template"]["spec"]["containers"][0]
    probers = [Prober(url, serve[name]) for name in ("readinessProbe", "livenessProbe")]
    threads = [threading.Thread(target=p.run) for p in probers]
    try:
        for thread in threads:
            thread.start()
        time.sleep(serve["livenessProbe"]["periodSeconds"] * 2 + 1)
        for prober in probers:
            prober.stop.set()
        for thread in threads:
            thread.join(10)
        shape = "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}"
        inspect = docker_cli.docker("inspect", "-f", shape, container.name).stdout
    finally:
        container.remove()
    assert inspect.split()[:2] == ["10001:10001", "true"], inspect
    for prober in probers:
        assert [code for _, code in prober.answers] == [200] * len(prober.answers) and len(prober.answers) >= 2


def test_pre_stop_then_sigterm_under_load_drains_every_request_within_the_grace_period(images, model_dirs):
    deploy, container, url, _ = start_pod(images[SERVING_IMAGE["cnn"]], "cnn", model_dirs["cnn"])
    spec = deploy["spec"]["template"]["spec"]
    serve = spec["containers"][0]
    grace = spec["terminationGracePeriodSeconds"]
    readiness = Prober(url, serve["readinessProbe"])
    port = int(url.rsplit(":", 1)[1])
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(0).integers(0, 256, (150, 32, 32, 3), dtype=np.uint8))
    payload = buffer.getvalue()
    load = InFlightRequests(port, payload)
    probe_thread = threading.Thread(target=readiness.run)
    try:
        probe_thread.start()
        load.start()
        time.sleep(0.3)
        # The kubelet: preStop (its exec runs inside the container, under the same rules), then SIGTERM,
        # then SIGKILL when the grace period (counted from preStop) is over.
        terminating = time.monotonic()
        hook = serve["lifecycle"]["preStop"]["exec"]["command"]
        assert docker_cli.docker("exec", container.name, *hook, timeout_s=grace).returncode == 0
        sigterm = time.monotonic()
        remaining = grace - (sigterm - terminating)
        code, _ = container.stop(grace_s=max(1, int(remaining)))
        ended = time.monotonic() - terminating
        readiness.stop.set()
        load.join()
        probe_thread.join(10)
        logs = container.logs()
    finally:
        container.remove()
    before = [c for t, c in readiness.answers if t < terminating]
    after = sum(t > sigterm for t in load.finished)
    print(
        f"cnn pod: preStop {sigterm - terminating:.1f} s, exit {code} {ended:.1f} s after termination began "
        f"(grace {grace} s), {after} of 12 requests answered after SIGTERM, readiness {before}"
    )
    assert load.statuses == [200] * 12, logs[-3000:]
    assert code == 0, logs[-3000:]
    assert ended < grace
    assert before and set(before) == {200}
