"""`python -m review [--base REF] [--allow-destructive] [-c KEY=VALUE ...] [--output review.md]`

Exit status: 0 reviewed, 1 a stateful resource would be replaced or deleted (and ALLOW_DESTRUCTIVE is
not set), 2 the review could not be made (a synth failed, bad base ref).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from review import cdkdiff, classify, cost, gitref, nagdiff, report, synth
from shared_names import SERVING_CAPACITY_FILE as CAPACITY_FILE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m review", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", default=None, help="git ref to compare with (default: merge base with main; see review.gitref)"
    )
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        default=os.environ.get("ALLOW_DESTRUCTIVE", "") not in ("", "0", "false"),
        help="report destructive changes without failing (env ALLOW_DESTRUCTIVE=1)",
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra CDK context for both synths, e.g. env=dev or cnn_model_package_arn=...",
    )
    parser.add_argument("--output", type=Path, default=Path("review.md"))
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--base-assembly", type=Path, help="reuse this synthesized base instead of synthesizing it")
    parser.add_argument(
        "--head-assembly",
        type=Path,
        help="reuse this synthesized working tree (same context) instead of synthesizing it",
    )
    parser.add_argument("--keep", type=Path, help="keep the two assemblies in this folder (base.out, head.out)")
    parser.add_argument("--quiet", action="store_true", help="do not print review.md")
    return parser.parse_args(argv)


def _context(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--context {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def synthesize(
    repo: Path,
    base_sha: str,
    cdk: Path,
    context: dict[str, str],
    work: Path,
    base_assembly: Path | None,
    head_assembly: Path | None,
) -> tuple[synth.Assembly, synth.Assembly]:
    """Synthesize the working tree and the base side by side (either may be given already)."""
    if head_assembly:
        head_out, head = head_assembly, None
    else:
        head_out, head_log = work / "head.out", work / "head.log"
        head = synth.start_synth(cdk, repo, head_out, context, head_log)
    if base_assembly:
        if head:
            synth.wait_synth(head, "the working tree", head_log, head_out)
        return synth.Assembly(base_assembly), synth.Assembly(head_out)
    base_out, base_log = work / "base.out", work / "base.log"
    with gitref.worktree(repo, base_sha) as tree:
        capacity = repo / CAPACITY_FILE  # an untracked benchmark result applies to both sides
        if capacity.is_file() and not (tree / CAPACITY_FILE).exists():
            (tree / CAPACITY_FILE).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(capacity, tree / CAPACITY_FILE)
        if not (tree / "cdk.json").is_file():  # a base from before the CDK app: every stack is new
            synth.empty_assembly(base_out)
            base = None
        else:
            base = synth.start_synth(cdk, tree, base_out, context, base_log)
        try:
            if base:
                synth.wait_synth(base, f"the base {base_sha[:12]}", base_log, base_out)
        finally:
            if head:
                synth.wait_synth(head, "the working tree", head_log, head_out)
    return synth.Assembly(base_out), synth.Assembly(head_out)


def compare(
    base: synth.Assembly, head: synth.Assembly, cdk: Path, work: Path
) -> tuple[list[cdkdiff.StackDiff], list[str], list[str]]:
    """cdk diff of every stack whose template changed; stacks new in head are diffed against an empty one."""
    empty = work / "empty.template.json"
    empty.write_text('{"Resources": {}}\n')
    added = [s for s in head.stacks if s not in base.stacks]
    removed = [s for s in base.stacks if s not in head.stacks]
    changed = [s for s in head.stacks if s in added or head.template(s) != base.template(s)]
    head.set_report_aside()

    def one(stack: str) -> cdkdiff.StackDiff:
        old = empty if stack in added else base.template_path(stack)
        paths = cdkdiff.logical_id_paths(head.metadata(stack))
        return cdkdiff.diff_templates(stack, old, head.template_path(stack), paths, cwd=work)

    with ThreadPoolExecutor(max_workers=2) as pool:
        diffs = list(pool.map(one, changed))
    return diffs, added, removed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repo = args.repo.resolve()
    cdk = repo / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        print(f"{cdk} not found: install the pinned CDK CLI first (npm ci; `make review` does)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="review-"))
    try:
        return _review(args, repo, cdk, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _review(args: argparse.Namespace, repo: Path, cdk: Path, work: Path) -> int:
    started = time.monotonic()
    try:
        base_ref = gitref.resolve_base(repo, args.base)
        context = synth.review_context(_context(args.context), repo)
        base, head = synthesize(repo, base_ref.sha, cdk, context, work, args.base_assembly, args.head_assembly)
        synthesized = time.monotonic()
        diffs, added, removed = compare(base, head, cdk, work)
    except (gitref.GitError, synth.SynthError, RuntimeError) as exc:
        text = f"{report.MARKER}\n# Infrastructure review\n\n**The review could not be made.**\n\n```text\n{exc}\n```\n"
        args.output.write_text(text)
        print(text, file=sys.stderr)
        return 2
    finally:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for name in ("base.out", "head.out"):
                if (work / name).exists():
                    shutil.rmtree(args.keep / name, ignore_errors=True)
                    shutil.copytree(work / name, args.keep / name, symlinks=True)

    prices = cost.load_prices()
    destructive = classify.destructive_changes(diffs)
    for stack in removed:
        destructive += classify.deleted_stack(stack, base.template(stack))
    base_templates = {s: base.template(s) for s in base.stacks}
    head_templates = {s: head.template(s) for s in head.stacks}
    destructive = classify.merge(
        classify.fixed_name_conflicts(diffs, base_templates, head_templates)
        + classify.autoscaled_instance_type_changes(base_templates, head_templates),
        destructive,
    )
    widening, narrowing = classify.widening_changes(diffs)
    appeared, disappeared = nagdiff.nag_changes(base, head)
    costs = []
    for stack in sorted(set(base.stacks) | set(head.stacks)):
        costs += cost.cost_changes(
            stack,
            base.template(stack) if stack in base.stacks else None,
            head.template(stack) if stack in head.stacks else None,
            prices,
        )
    finished = time.monotonic()
    context_note = " ".join(f"-c {k}={v}" for k, v in context.items())
    review = report.Review(
        base=f"`{base_ref.ref}` ({base_ref.sha[:12]}; {base_ref.why})",
        head="the working tree",
        stacks=sorted(set(base.stacks) | set(head.stacks)),
        diffs=diffs,
        added_stacks=added,
        removed_stacks=removed,
        destructive=destructive,
        allow_destructive=args.allow_destructive,
        widening=widening,
        narrowing=narrowing,
        nag_appeared=appeared,
        nag_disappeared=disappeared,
        costs=costs,
        prices=prices,
        notes=[
            "---",
            f"Synthesized with `{context_note}` on both sides (placeholder model versions make the "
            "serving stacks comparable); no AWS credentials used. "
            f"Synth {synthesized - started:.0f} s, diff and analysis {finished - synthesized:.0f} s.",
        ],
    )
    text = report.render(review)
    args.output.write_text(text)
    if not args.quiet:
        print(text)
    if review.blocked:
        print(
            f"review: {len(destructive)} destructive change(s) to stateful resources; "
            "set ALLOW_DESTRUCTIVE=1 to accept them",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
