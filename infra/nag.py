"""cdk-nag v3 wiring: the packs the project adopts, and acknowledgment of the IAM wildcards it accepts.

`AwsSolutions-IAM5` reports each wildcard as its own finding (`AwsSolutions-IAM5[Resource::...]`), whose
text holds tokens such as cross-stack export names. Rather than copy those strings, a construct
declares which wildcards it accepts and why (`allow_wildcards`): regexes over the finding text. Before
synth, `acknowledge_allowed_wildcards` runs the AwsSolutions pack once and acknowledges exactly the
findings a declaration matches, on the construct that declared it; any other wildcard still fails synth.
"""
from __future__ import annotations

import re

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from constructs import Construct, IConstruct

from infra.rules import ProjectChecks

ALLOWANCE_METADATA = "elasticml:wildcard-allowance"
IAM5 = "AwsSolutions-IAM5"


def allow_wildcards(scope: Construct, reason: str, *patterns: str) -> None:
    """Accept the IAM5 findings under `scope` whose text (`Action::...`/`Resource::...`) fully matches
    one of `patterns`, for `reason`."""
    scope.node.add_metadata(ALLOWANCE_METADATA, {"reason": reason, "patterns": list(patterns)})


def _allowances(root: IConstruct) -> list[tuple[str, IConstruct, str, list[str]]]:
    found = []
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ALLOWANCE_METADATA:
                found.append((construct.node.path, construct, entry.data["reason"], entry.data["patterns"]))
    return found


def acknowledge_allowed_wildcards(app: App) -> int:
    """Acknowledge the IAM5 findings that an `allow_wildcards` declaration covers; returns their count."""
    allowances = _allowances(app)
    report = AwsSolutionsChecks().validate_scope(app)
    by_path = {c.node.path: c for c in app.node.find_all()}
    count = 0
    for violation in report.violations:
        match = re.fullmatch(rf"{re.escape(IAM5)}\[(.*)\]", violation.rule_name)
        if not match:
            continue
        for resource in violation.violating_resources:
            path = resource.construct_path or ""
            for owner_path, owner, reason, patterns in allowances:
                if (path + "/").startswith(owner_path + "/") and any(re.fullmatch(p, match.group(1))
                                                                     for p in patterns):
                    Validations.of(by_path.get(path, owner)).acknowledge(
                        Acknowledgment(id=violation.rule_name, reason=reason))
                    count += 1
                    break
    return count


def add_checks(app: App) -> None:
    """Register the adopted packs: AWS Solutions, NIST 800-53 rev 5 and the project's own rules."""
    acknowledge_allowed_wildcards(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app), ProjectChecks(app))
