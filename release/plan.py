"""`make release-plan ENV=prod`: what a release of one environment would do, offline.

The stacks in the order the release deploys them, which model version each endpoint would serve
(the release resolves it from the registry at deploy; promotion changes it), and the review of the
change against the commit the environment runs now (the git tag `deployed/<env>`).
"""

from __future__ import annotations

import shared_names as names
from release.environment import Environment


def render(
    environment: Environment,
    *,
    head: str,
    deployed: str | None,
    versions: dict[str, str],
    review: str | None,
    deployed_given: bool = False,
) -> str:
    """The plan as Markdown. `versions`: model -> a package ARN given on the command line (else the
    registry decides at deploy); `review`: review.md of the change, or None when none was made."""
    target, ci = environment.target, environment.ci
    lines = [
        f"# Release plan: {target.prefix} (account {environment.account or 'the CLI default'}, region "
        f"{environment.region or 'the CLI default'})",
        "",
        f"- This release: `{head}`",
        f"- Deployed now: `{deployed}` ("
        + ("given with --base" if deployed_given else f"git tag `{names.deployed_tag(target.env)}`")
        + ")"
        if deployed
        else f"- Deployed now: nothing recorded (no git tag `{names.deployed_tag(target.env)}`): a first release",
        f"- Runs in the GitHub environment `{ci.of(target.env).github_environment}` of `{ci.repo}` as "
        f"`{environment.deploy_role_arn}`",
        "",
        "## Stacks, in deploy order",
        "",
    ]
    for index, stack in enumerate(environment.stacks(), 1):
        note = ""
        for model in target.models:
            if stack == target.serving_stack(model):
                note = (
                    f": serves `{versions[model]}` (given)"
                    if model in versions
                    else f": serves the package {target.prefix}'s registry marks `{names.SERVING_ENDPOINT_KEY}="
                    f"{target.endpoint(model)}` (resolved at deploy); left out while there is none"
                )
        if stack.endswith("-ci-access"):
            note = f": `DeployedCommit` <- `{head[:12]}`, last; then the tag `{names.deployed_tag(target.env)}` moves"
        lines.append(f"{index}. `{stack}`{note}")
    lines += ["", "## Model versions", ""]
    for model in target.models:
        group = target.group(model)
        if target.promote_from:
            lines.append(
                f"- {model}: only a package that served in {target.promote_from}: approved in "
                f"{names.stack_prefix(target.promote_from, target.project)}-{model} -> deployed there by the promote "
                f"workflow -> the same artifact registered in {group} (pending) -> approved there -> deployed to "
                f"{target.endpoint(model)}"
            )
        else:
            lines.append(
                f"- {model}: a package approved in {group} is deployed to {target.endpoint(model)} by the promote "
                "workflow; a release keeps the one the registry marks as serving"
            )
    lines += ["", "## Review findings", ""]
    if review is None:
        lines.append(
            "No review made (first release: every stack is new)." if not deployed else "Review skipped (--no-review)."
        )
    else:
        lines.append(review.strip())
    return "\n".join(lines) + "\n"
