"""The base to review against, and a temporary git worktree holding it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAIN_REFS = ("main", "origin/main")


class GitError(RuntimeError):
    """A git command failed; the message holds its stderr."""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _commit(repo: Path, ref: str) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        return None


@dataclass(frozen=True)
class Base:
    ref: str
    sha: str
    why: str


def resolve_base(repo: Path, ref: str | None = None) -> Base:
    """`ref` when given; else the merge base of HEAD with main (or origin/main). On main itself, or
    with no main at all: HEAD when the working tree has uncommitted changes (they are what is under
    review), else HEAD~1 (the last commit is)."""
    if ref:
        sha = _commit(repo, ref)
        if not sha:
            raise GitError(f"BASE={ref}: not a commit in {repo}")
        return Base(ref, sha, "given")
    head = _commit(repo, "HEAD")
    if not head:
        raise GitError(f"{repo}: no commit yet, nothing to review against")
    for main in MAIN_REFS:
        main_sha = _commit(repo, main)
        if main_sha and main_sha != head:
            merge_base = git(repo, "merge-base", "HEAD", main)
            return Base(f"merge-base HEAD {main}", merge_base, f"merge base of HEAD and {main}")
    dirty = bool(git(repo, "status", "--porcelain", "--untracked-files=no"))
    parent = _commit(repo, "HEAD~1")
    if dirty or not parent:
        return Base("HEAD", head, "no other main to compare with: the uncommitted changes are reviewed")
    return Base("HEAD~1", parent, "no other main to compare with and a clean tree: the last commit is reviewed")


@contextmanager
def worktree(repo: Path, sha: str, *, link: tuple[str, ...] = ("node_modules",)) -> Iterator[Path]:
    """A detached worktree of `sha` under the system temp dir, removed afterwards. The ignored
    folders in `link` (the installed CDK CLI) are symlinked from `repo`."""
    parent = Path(tempfile.mkdtemp(prefix="review-base-"))
    tree = parent / "base"
    git(repo, "worktree", "add", "--detach", "--quiet", str(tree), sha)
    try:
        for name in link:
            if (repo / name).exists() and not (tree / name).exists():
                (tree / name).symlink_to((repo / name).resolve())
        yield tree
    finally:
        try:
            git(repo, "worktree", "remove", "--force", str(tree))
        except GitError:
            git(repo, "worktree", "prune")
        shutil.rmtree(parent, ignore_errors=True)
