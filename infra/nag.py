"""cdk-nag v3 wiring: the packs the project adopts, and acknowledgment of the IAM wildcards it accepts.

`AwsSolutions-IAM5` reports each wildcard as its own finding (`AwsSolutions-IAM5[Resource::...]`), whose
text holds tokens such as cross-stack export names. Rather than copy those strings, a construct
declares which wildcards it accepts and why (`allow_wildcards`): regexes over the finding text. Before
synth, `acknowledge_allowed_wildcards` runs the AwsSolutions pack once and acknowledges exactly the
findings a declaration matches, on the construct that declared it; any other wildcard still fails synth.
"""

from __future__ import annotations

import re
from typing import Any

import jsii
from aws_cdk import Acknowledgment, App, CfnResource, Stack, Validations
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks
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


def acknowledge_allowed_wildcards(app: App, report: Any = None) -> int:
    """Acknowledge the IAM5 findings that an `allow_wildcards` declaration covers; returns their count.
    `report`: the AwsSolutions pack's report of `app`, when the caller has it already."""
    allowances = _allowances(app)
    report = report or AwsSolutionsChecks().validate_scope(app)
    by_path = {c.node.path: c for c in app.node.find_all()}
    count = 0
    for violation in report.violations:
        match = re.fullmatch(rf"{re.escape(IAM5)}\[(.*)\]", violation.rule_name)
        if not match:
            continue
        for resource in violation.violating_resources:
            path = resource.construct_path or ""
            for owner_path, owner, reason, patterns in allowances:
                if (path + "/").startswith(owner_path + "/") and any(re.fullmatch(p, match.group(1)) for p in patterns):
                    Validations.of(by_path.get(path, owner)).acknowledge(
                        Acknowledgment(id=violation.rule_name, reason=reason)
                    )
                    count += 1
                    break
    return count


ACKNOWLEDGEMENT_METADATA = "elasticml:acknowledgement"
PACK_PREFIXES = ("AwsSolutions-", "NIST.800.53.R5-", "Project-")


class StaleAcknowledgement(ValueError):
    """An acknowledgement whose rule does not fire on the construct it is on, or anything under it."""


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge the findings of `rule_id` (and of its `[...]` variants) on `scope` and below, for
    `reason`. Recorded here and applied by `add_checks`, which first checks that the rule does fire
    there: the packs report nothing that is acknowledged already, so a stale acknowledgement could not
    be told apart afterwards."""
    scope.node.add_metadata(ACKNOWLEDGEMENT_METADATA, {"rule": rule_id, "reason": reason})


def _findings(reports: list[Any]) -> list[tuple[str, str]]:
    return [
        (v.rule_name, r.construct_path or "")
        for report in reports
        for v in report.violations
        for r in v.violating_resources
    ]


def apply_acknowledgements(app: App, reports: list[Any]) -> list[str]:
    """Acknowledge, on its construct, every finding of `reports` that a recorded acknowledgement covers
    (the same rule or one of its `[...]` variants, on the construct or below it); returns the
    acknowledgements that covered none, as `path: rule`."""
    findings = _findings(reports)
    by_path = {c.node.path: c for c in app.node.find_all()}
    stale = []
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != ACKNOWLEDGEMENT_METADATA:
                continue
            rule, reason, path = entry.data["rule"], entry.data["reason"], construct.node.path
            matched = {
                (name, where)
                for name, where in findings
                if (name == rule or name.startswith(rule + "[")) and (where + "/").startswith(path + "/")
            }
            if not matched:
                stale.append(f"{path}: {rule}")
            for name, where in sorted(matched):
                Validations.of(by_path.get(where, construct)).acknowledge(Acknowledgment(id=name, reason=reason))
    return sorted(set(stale))


class NagCensus(NagPack):
    """A pack with no rules, registered beside the others: it records the stack of every resource the
    packs are given, so a test can compare the stacks nag saw with the app's stacks (a check attached
    the wrong way, e.g. an aspect on the App, does not reach the stacks inside a `Stage`)."""

    def __init__(self, scope: IConstruct | None = None) -> None:
        super().__init__(scope)
        self._pack_name = "Census"
        self.stacks: set[str] = set()

    @property
    @jsii.member(jsii_name="name")
    def name(self) -> str:
        return "Census"

    @jsii.member(jsii_name="checkResource")
    def _check_resource(self, node: CfnResource) -> None:
        self.stacks.add(Stack.of(node).stack_name)


# (app, census) per app `add_checks` ran on; by identity (every App's node address is the same).
_CENSUS: list[tuple[App, NagCensus]] = []


def census(app: App) -> NagCensus:
    """The census `add_checks` registered on `app`; its `stacks` are filled during synth."""
    return next(c for a, c in _CENSUS if a is app)


def add_checks(app: App) -> None:
    """Register the adopted packs: AWS Solutions, NIST 800-53 rev 5 and the project's own rules. Before,
    run them once, with nothing acknowledged yet, to acknowledge the declared IAM wildcards and the
    recorded acknowledgements, and to refuse stale ones (an acknowledgement that covers nothing would
    hide the next real finding of that rule there)."""
    reports = [pack.validate_scope(app) for pack in (AwsSolutionsChecks(), NIST80053R5Checks(), ProjectChecks())]
    acknowledge_allowed_wildcards(app, reports[0])
    stale = apply_acknowledgements(app, reports)
    if stale:
        raise StaleAcknowledgement(
            "acknowledged rules that do not fire there (remove the acknowledgement): " + "; ".join(stale)
        )
    _CENSUS.append((app, NagCensus(app)))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app), ProjectChecks(app), census(app))
