"""The deploy-readiness ledger (docs/deploy-readiness.md) against a full synth: both environments, every
serving mode. A resource type or principal the templates hold and the ledger does not fails here until
someone has audited it against AWS's documentation and added its section; so does a section for one
that no longer exists. The synths run with every check: a project finding would fail them, and none of
the project's own rules may be acknowledged away."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Validations

from infra.application import REPO_ROOT
from infra.rules import RULES

from .conftest import MODE_ROTATIONS, synthesize_modes

pytestmark = pytest.mark.slow  # two more full synths (about 90 s); make test runs it

LEDGER = REPO_ROOT / "docs" / "deploy-readiness.md"
TYPES_PART, PRINCIPALS_PART = "## Resource types", "## Principals"
TYPE_HEADING = re.compile(r"^### ((?:AWS|Custom)::[A-Za-z0-9]+(?:::[A-Za-z0-9]+)?)\s*$", re.MULTILINE)
FIELDS = ("Create", "Update", "Run", "Source", "Met by")
PRINCIPAL_FIELDS = ("Where", "Requires", "Source", "Met by")
ACCOUNT_IN_ARN = re.compile(r"iam::\d{12}:")  # a literal account: another environment's
PLACEHOLDERS = {"AWS::Region": "<region>", "AWS::AccountId": "<account>", "AWS::Partition": "<partition>"}


def part(text: str, heading: str) -> str:
    """The text of one `## ` part of the ledger, up to the next `## ` heading."""
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def sections(text: str) -> dict[str, str]:
    """`### ` heading -> its body, within one part."""
    pieces = re.split(r"^### (.+?)\s*$", text, flags=re.MULTILINE)
    return {pieces[i]: pieces[i + 1] for i in range(1, len(pieces), 2)}


def principal_name(principal: Any) -> list[str]:
    """`Service: logs.<region>.amazonaws.com`, `AWS: arn:<partition>:iam::<account>:root`, `*`: the
    principals of a statement as the ledger names them, deploy-time tokens as placeholders, a literal
    account (another environment's, from cdk.json) as `<other-account>`, an attribute as `<Id.Attr>`."""

    def text(value: Any) -> str:
        if isinstance(value, str):
            return ACCOUNT_IN_ARN.sub("iam::<other-account>:", value)
        if isinstance(value, dict) and "Ref" in value:
            return PLACEHOLDERS.get(value["Ref"], f"<{value['Ref']}>")
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(text(p) for p in parts)
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return "<{}.{}>".format(*value["Fn::GetAtt"])
        return json.dumps(value, sort_keys=True)

    if principal == "*":
        return ["*"]
    return [
        f"{kind}: {text(v)}"
        for kind, values in sorted(principal.items())
        for v in (values if isinstance(values, list) else [values])
    ]


def statements_with_principals(value: Any):
    if isinstance(value, dict):
        if "Principal" in value:
            yield value
        for child in value.values():
            yield from statements_with_principals(child)
    elif isinstance(value, list):
        for child in value:
            yield from statements_with_principals(child)


@pytest.fixture(scope="module")
def every_mode(synthesized, tmp_path_factory, stub_sources) -> dict[str, dict[str, Any]]:
    """`<synth>/<stack>` -> template, for cdk.json's modes and both rotations: every mode in dev and prod."""
    outdirs = {"cdk.json": synthesized.outdir}
    for i, modes in enumerate(MODE_ROTATIONS):
        outdir = tmp_path_factory.mktemp(f"modes{i}.out")
        app = synthesize_modes(outdir, stub_sources, modes)
        acknowledged = [
            rule
            for construct in app.node.find_all()
            for entry in construct.node.metadata
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
            for rule in entry.data
        ]
        assert not [r for r in acknowledged if r.removeprefix("Annotation::").startswith("Project-")], modes
        outdirs[f"rotation{i}"] = outdir
    return {
        f"{label}/{path.name.removesuffix('.template.json')}": json.loads(path.read_text())
        for label, outdir in outdirs.items()
        for path in sorted(Path(outdir).glob("*.template.json"))
    }


@pytest.fixture(scope="module")
def ledger() -> str:
    return LEDGER.read_text()


def test_every_serving_mode_is_in_both_environments(every_mode):
    served = {}
    for name, template in every_mode.items():
        match = re.fullmatch(r"[^/]+/elasticml-(dev|prod)-serving-\w+", name)
        if match:
            served.setdefault(match.group(1), set()).add(template["Outputs"]["ServingMode"]["Value"])
    assert served == {env: {"realtime", "scale-to-zero", "async"} for env in ("dev", "prod")}


def test_the_ledger_lists_exactly_the_resource_types_of_a_full_synth(every_mode, ledger):
    synthesized = {r["Type"] for t in every_mode.values() for r in t["Resources"].values()}
    listed = set(TYPE_HEADING.findall(part(ledger, TYPES_PART)))
    assert not synthesized - listed, (
        f"resource types not yet audited: {sorted(synthesized - listed)}; add a '### TYPE' section to "
        f"{LEDGER.relative_to(REPO_ROOT)} under '{TYPES_PART}' with {', '.join(FIELDS)} (see its first lines)"
    )
    assert not listed - synthesized, f"ledger sections for types no template holds: {sorted(listed - synthesized)}"


def test_the_ledger_lists_exactly_the_principals_of_a_full_synth(every_mode, ledger):
    synthesized = {
        name
        for t in every_mode.values()
        for r in t["Resources"].values()
        for s in statements_with_principals(r.get("Properties", {}))
        for name in principal_name(s["Principal"])
    }
    listed = set(sections(part(ledger, PRINCIPALS_PART)))
    assert not synthesized - listed, (
        f"principals not yet audited: {sorted(synthesized - listed)}; add a '### NAME' section under "
        f"'{PRINCIPALS_PART}' with {', '.join(PRINCIPAL_FIELDS)}"
    )
    assert not listed - synthesized, f"ledger sections for principals no template names: {sorted(listed - synthesized)}"


@pytest.mark.parametrize(("heading", "fields"), [(TYPES_PART, FIELDS), (PRINCIPALS_PART, PRINCIPAL_FIELDS)])
def test_every_ledger_entry_says_what_aws_requires_where_it_says_so_and_what_meets_it(ledger, heading, fields):
    entries = sections(part(ledger, heading))
    assert entries
    for name, body in entries.items():
        for field in fields:
            assert re.search(rf"^- \*\*{re.escape(field)}:\*\* \S", body, re.MULTILINE), (name, field)
        source = re.search(r"^- \*\*Source:\*\* (.+)$", body, re.MULTILINE).group(1)
        assert re.search(r"\[[^\]]+\]\(https://(docs\.aws\.amazon\.com|repost\.aws)/[^)]+\)", source), (name, source)


def test_every_rule_the_ledger_names_exists_and_every_project_rule_is_in_the_ledger(ledger):
    named = set(re.findall(r"Project-([A-Za-z0-9]+)", ledger))
    assert named <= set(RULES), sorted(named - set(RULES))
    assert set(RULES) <= named, sorted(set(RULES) - named)
