"""The walls of docs/architecture.md: which package may import which, checked on the source itself."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.walls import import_cycles, imported_modules, wall_offenders

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("torch", "tensorflow", "keras")
CDK = ("aws_cdk", "constructs", "cdk_nag", "jsii")
# package -> (forbidden modules, allowed exceptions among them)
WALLS = {
    # infra reads the planner's plans and the benchmarks' capacity file as data (their paths, and the
    # instance-type rule all three size by, live in shared_names.py), never their code.
    "infra": (("training", "inference", "planner", "benchmarks", *FRAMEWORKS), ()),
    "inference/inference": (("training", "infra", "shared_names"), ()),
    "training/training": (("infra", "inference", "shared_names"), ()),
    # The review synthesizes other commits: it must not import this tree's infra.
    "review": (("infra", "training", "inference", *FRAMEWORKS), ()),
    # Experiments validate cdk.json with infra's settings loader and read the metric definitions with its
    # loader (both CDK-free, pinned below), nothing else of infra.
    "experiments": (
        ("infra", "training", "inference", *FRAMEWORKS, *CDK),
        ("infra.settings", "infra.metric_definitions"),
    ),
    "local_mode": (("training", "infra", *FRAMEWORKS, *CDK), ()),
    # The planner imports no framework and no CDK: infra reads its plan files as data.
    "planner": (("infra", "training", "inference", *FRAMEWORKS, *CDK), ()),
    # The release tooling runs the CDK CLI, never the library; of infra only the CDK-free settings.
    "release": (
        ("infra", "training", "inference", "review", *FRAMEWORKS, *CDK),
        ("infra.settings", "infra.ci_settings"),
    ),
    # The monitor decodes captures with the serving package (the request contract's one home) and
    # embeds them with the artifact alone: never the training code, never the CDK.
    "monitor": (("training", "infra", *CDK), ()),
    # The Kubernetes manifests read the settings as synth validates them: of infra only its CDK-free
    # settings modules (the image URIs come from `python -m infra.images`, a separate process). cdk8s
    # itself runs on jsii and constructs, so those two are allowed; the CDK for AWS is not.
    "k8s": (
        ("infra", "training", "inference", *FRAMEWORKS, "aws_cdk", "cdk_nag"),
        ("infra.settings", "infra.capacity_plan", "infra.serving_modes"),
    ),
}


@pytest.mark.parametrize("package", sorted(WALLS))
def test_package_imports_nothing_behind_its_wall(package):
    forbidden, allowed = WALLS[package]
    # A missing package is a failure, not a skip: a rename must move its wall too.
    assert wall_offenders(ROOT / package, forbidden, allowed) == {}


def test_shared_names_imports_only_the_standard_library():
    modules = {m.split(".")[0] for m in imported_modules(ROOT / "shared_names.py")}
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)


@pytest.mark.parametrize(
    "module", ["infra.settings", "infra.ci_settings", "infra.metric_definitions", "release.__main__"]
)
def test_infra_settings_loads_no_cdk(module):
    """What experiments and the release tooling import of infra must not pull the CDK (the experiments'
    venv has none; a release imports it only through the CLI)."""
    code = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({CDK!r})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_k8s_manifests_load_no_cdk_for_aws():
    code = (
        "import sys, k8s.chart, k8s.validate; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aws_cdk', 'cdk_nag'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_wall_check_sees_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text(
        "import torch.nn\nfrom training.job import run_job\nfrom . import sibling\n"
        "from infra.settings import load_settings\nfrom infra.stacks import x\n"
    )
    assert imported_modules(package / "m.py") == {"torch.nn", "training.job", "infra.settings", "infra.stacks"}
    assert wall_offenders(package, ("torch", "infra"), ("infra.settings",)) == {"m.py": ["infra.stacks", "torch.nn"]}
    with pytest.raises(FileNotFoundError, match="renamed"):
        wall_offenders(tmp_path / "renamed", ("torch",))


@pytest.mark.parametrize("package", ["infra"])
def test_no_import_circle_inside_the_package(package):
    """Modules of one package import one another in one direction: a circle makes import order matter and
    hides which module owns a fact (infra/errors.py holds SettingsError so its readers need not import each
    other)."""
    assert import_cycles(ROOT / package, package) == []


def test_the_circle_check_sees_a_circle_through_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import x\n")
    (package / "c.py").write_text("from pkg import a\nimport os\n")
    (package / "d.py").write_text("from pkg.a import y\n")
    assert import_cycles(package, "pkg") == [["pkg.a", "pkg.c", "pkg.sub.b"]]
