"""A throwaway git repository made from the project's CDK app, for the review tests: the tracked files
synth needs, committed on `main` as the base, with the installed CDK CLI and .venv symlinked in."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
SYNTH_FILES = (
    "app.py",
    "cdk.json",
    "package.json",
    "package-lock.json",
    "training/metric_definitions.json",
    "training/Dockerfile",
    "inference/Dockerfile",
    "shared_names.py",
    "evaluation_tarball.py",
    "requirements.txt",  # torch's one pin: the PyTorch images' build argument (infra/images.py)
)
SYNTH_DIRS = ("infra", "monitor")  # monitor/: the drift monitor image's build context


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def make_repo(root: Path) -> Path:
    """Copy what synth needs (tracked files only) into `root`, commit it on main, link node_modules."""
    tracked = git(PROJECT, "ls-files", *SYNTH_FILES, *SYNTH_DIRS).splitlines()
    for name in tracked:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / name, root / name)
    (root / ".gitignore").write_text("node_modules\n.venv\ncdk.out\n__pycache__/\nreview.md\n")
    for name in ("node_modules", ".venv"):
        (root / name).symlink_to(PROJECT / name)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(
        root,
        "-c",
        "user.name=review-test",
        "-c",
        "user.email=review@test.invalid",
        "commit",
        "--quiet",
        "--message",
        "base",
    )
    return root


def edit(path: Path, old: str, new: str) -> None:
    """Replace one occurrence of `old` (which must be there) by `new`."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}: the project changed, update the review test"
    path.write_text(text.replace(old, new, 1))


def set_setting(repo: Path, dotted: str, value: object) -> None:
    """Set `context.environments.<dotted>` in cdk.json."""
    cdk_json = repo / "cdk.json"
    data = json.loads(cdk_json.read_text())
    node = data["context"]["environments"]
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    assert last in node, f"{dotted} not in cdk.json"
    node[last] = value
    cdk_json.write_text(json.dumps(data, indent=2) + "\n")


def setting(repo: Path, dotted: str) -> object:
    node = json.loads((repo / "cdk.json").read_text())["context"]["environments"]
    for key in dotted.split("."):
        node = node[key]
    return node
