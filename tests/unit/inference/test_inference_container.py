"""The serving image's build context: hadolint-clean Dockerfile, pinned bases and requirements, the wall."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.walls import wall_offenders

REPO = Path(__file__).resolve().parents[3]
CONTEXT = REPO / "inference"


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(CONTEXT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_base_runs_unprivileged_and_serves_on_8080():
    text = (CONTEXT / "Dockerfile").read_text()
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))  # FROM ${PYTHON_IMAGE}: its default
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M)) | {"scratch"}  # not pulled: no pin
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m[1], m[0]), base)
        for base in re.findall(r"^FROM\s+(\S+)", text, re.M)
        if base not in stages
    ]
    assert bases and all(re.search(r":\d+\.\d+\.\d+", base) for base in bases), bases
    assert re.search(r"^USER\s+(?!root|0\b)\S+", text, re.M)
    assert re.search(r"^EXPOSE\s+8080", text, re.M)
    assert 'CMD ["serve"]' in text
    serve = (CONTEXT / "serve").read_text()
    assert "python -m inference serve" in serve
    assert (CONTEXT / "serve").stat().st_mode & 0o111


def requirements(name: str) -> dict[str, str]:
    lines = [line.strip() for line in (CONTEXT / name).read_text().splitlines()]
    packages = [line for line in lines if line and not line.startswith("#")]
    assert packages, name
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", p) for p in packages), (name, packages)
    return dict(p.lower().replace("_", "-").split("==") for p in packages)


def test_requirements_are_pinned():
    for name in (
        "requirements.txt",
        "requirements-pytorch.txt",
        "requirements-tensorflow.txt",
        "requirements-client.txt",
    ):
        requirements(name)


def test_each_serving_image_installs_its_own_framework_and_nothing_of_the_other():
    common = requirements("requirements.txt")
    pytorch, tensorflow = requirements("requirements-pytorch.txt"), requirements("requirements-tensorflow.txt")
    assert "tensorflow-cpu" in tensorflow and "scipy" in tensorflow  # the MLP: its framework, WAV decoding
    assert "captum" in pytorch and "pillow" in pytorch  # the CNN: attributions, image decoding
    others = {"torch", "captum", "pillow", "matplotlib", "tensorflow", "tensorflow-cpu", "keras", "scipy"}
    assert not others & set(common), common
    assert not {"tensorflow", "tensorflow-cpu", "keras", "scipy", "h5py"} & set(pytorch), pytorch
    assert not {"torch", "captum", "pillow", "matplotlib"} & set(tensorflow), tensorflow
    assert "boto3" not in {**common, **pytorch, **tensorflow}  # the client's (requirements-client.txt)
    text = (CONTEXT / "Dockerfile").read_text()
    assert "COPY requirements.txt requirements-${FRAMEWORK}.txt ./" in text
    assert re.search(r"^ARG FRAMEWORK=pytorch$", text, re.M)


def test_inference_never_imports_training_and_frameworks_only_lazily():
    assert wall_offenders(CONTEXT / "inference", ("training",)) == {}
    assert wall_offenders(CONTEXT / "inference", ("torch", "tensorflow", "keras"), top_level_only=True) == {}


def test_importing_the_server_loads_no_framework():
    code = (
        "import sys, inference.app, inference.server, inference.client; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'captum', 'scipy', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=CONTEXT, check=True
    ).stdout
    assert out.strip() == "[]"
