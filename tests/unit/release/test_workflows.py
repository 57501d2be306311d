"""The workflows read as the workflows they are: every action pinned by SHA, each job's permissions the
least it needs (`id-token: write` only where OIDC is used), prod in its protected environment, one
deploy per environment at a time and never cancelled, and the release in the order the issue asks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import shared_names as names

WORKFLOWS = Path(__file__).resolve().parents[3] / ".github" / "workflows"
OIDC_ACTION = "aws-actions/configure-aws-credentials@"
SHA_PIN = re.compile(r"^\s*-?\s*uses:\s*[\w.-]+/[\w./-]+@(?P<ref>\S+)(?P<comment>\s+#\s*v\d+(\.\d+)*)?\s*$")


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def all_jobs():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in load(path.name)["jobs"].items():
            yield path.name, job_id, job


def steps_text(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def uses(job: dict) -> list[str]:
    return [step["uses"] for step in job.get("steps", []) if "uses" in step]


def test_there_are_the_three_workflows():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == ["promote.yml", "pull-request.yml", "release.yml"]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version(path):
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*-?\s*uses:", line)]
    assert lines
    for line in lines:
        match = SHA_PIN.match(line)
        assert match and re.fullmatch(r"[0-9a-f]{40}", match["ref"]) and match["comment"], line


def test_the_same_action_is_pinned_to_the_same_commit_everywhere():
    pins: dict[str, set[str]] = {}
    for _, _, job in all_jobs():
        for use in uses(job):
            action, sha = use.split("@")
            pins.setdefault(action, set()).add(sha)
    assert {a: s for a, s in pins.items() if len(s) > 1} == {}


@pytest.mark.parametrize("name", ["release.yml", "promote.yml"])
def test_the_workflow_grants_nothing_by_default(name):
    assert load(name)["permissions"] == {}


def test_every_job_declares_the_least_it_needs():
    for workflow, job_id, job in all_jobs():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), (workflow, job_id, "no job-level permissions")
        oidc = any(u.startswith(OIDC_ACTION) for u in uses(job))
        # id-token: write only in jobs that exchange GitHub's token for AWS credentials, and there always
        assert (permissions.get("id-token") == "write") == oidc, (workflow, job_id)
        # contents: write only where a job moves the deployed/<env> tag (python -m release deploy)
        pushes = "-m release deploy" in steps_text(job)
        assert permissions.get("contents") == ("write" if pushes else "read"), (workflow, job_id)
        assert set(permissions) <= {"contents", "id-token", "pull-requests"}, (workflow, job_id)
        if "pull-requests" in permissions:
            assert workflow == "pull-request.yml", (workflow, job_id)


def test_jobs_with_aws_credentials_run_in_the_environment_whose_role_they_assume():
    """The role's trust pins `sub` to repo:OWNER/REPO:environment:ENV, so the job must run there; and
    a job that deploys prod runs in `prod`, whose required reviewers approve it first."""
    seen = set()
    for workflow, job_id, job in all_jobs():
        text = steps_text(job)
        envs = set(re.findall(r"--env (\w+)", text)) - {"ENV"}
        if any(u.startswith(OIDC_ACTION) for u in uses(job)):
            assert len(envs) == 1, (workflow, job_id, envs)
            assert job.get("environment") == envs.pop(), (workflow, job_id)
            seen.add((workflow, job_id, job["environment"]))
        else:
            assert "environment" not in job, (workflow, job_id)
    assert {(w, j) for w, j, e in seen if e == "prod"} == {
        ("release.yml", "deploy-prod"),
        ("promote.yml", "register-prod"),
        ("promote.yml", "promote-prod"),
    }


def test_one_deploy_per_environment_at_a_time_and_never_cancelled():
    groups: dict[str, list[str]] = {}
    for workflow, job_id, job in all_jobs():
        if "environment" not in job:
            continue
        concurrency = job.get("concurrency")
        assert isinstance(concurrency, dict), (workflow, job_id)
        assert concurrency["cancel-in-progress"] is False, (workflow, job_id)
        groups.setdefault(concurrency["group"], []).append(f"{workflow}:{job_id}")
    assert groups["deploy-dev"] == ["promote.yml:promote-dev", "release.yml:deploy-dev"]
    assert groups["deploy-prod"] == ["promote.yml:promote-prod", "release.yml:deploy-prod"]
    for name in ("release.yml", "promote.yml"):
        assert "concurrency" not in load(name) or load(name)["concurrency"].get("cancel-in-progress") is False


def test_the_release_tests_synths_reviews_dev_deploys_dev_then_reviews_prod_before_approval():
    workflow = load("release.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    jobs = workflow["jobs"]
    runs = [s["run"] for s in jobs["test"]["steps"] if "run" in s]
    assert runs == ["make test", "make synth"]
    assert jobs["deploy-dev"]["needs"] == "test"
    dev = jobs["deploy-dev"]["steps"]
    order = [s.get("run", s.get("uses", "")) for s in dev]
    review = order.index("make release-review ENV=dev")
    summary = next(i for i, r in enumerate(order) if "GITHUB_STEP_SUMMARY" in r)
    credentials = next(i for i, r in enumerate(order) if r.startswith(OIDC_ACTION))
    deploy = order.index(".venv/bin/python -m release deploy --env dev")
    assert review < summary < credentials < deploy
    # prod's review runs without credentials and without waiting for approval; the deploy job waits
    assert jobs["review-prod"]["needs"] == "deploy-dev" and "environment" not in jobs["review-prod"]
    assert "make release-review ENV=prod" in steps_text(jobs["review-prod"])
    assert "GITHUB_STEP_SUMMARY" in steps_text(jobs["review-prod"])
    assert jobs["deploy-prod"]["needs"] == "review-prod" and jobs["deploy-prod"]["environment"] == "prod"
    for job_id in ("deploy-dev", "review-prod", "deploy-prod"):
        checkout = next(s for s in jobs[job_id]["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["fetch-depth"] == 0 and checkout["with"]["fetch-tags"] is True, job_id


def test_promotion_is_dispatched_by_the_access_stacks_event_type_and_deploys_what_each_environment_runs():
    workflow = load("promote.yml")
    assert workflow["on"] == {"repository_dispatch": {"types": [names.DISPATCH_EVENT_TYPE]}}
    jobs = workflow["jobs"]
    for job_id, env in (("promote-dev", "dev"), ("register-prod", "prod"), ("promote-prod", "prod")):
        checkout = next(s for s in jobs[job_id]["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["ref"] == names.deployed_tag(env), job_id
    assert jobs["promote-dev"]["if"] == "${{ github.event.client_payload.environment == 'dev' }}"
    assert jobs["promote-prod"]["if"] == "${{ github.event.client_payload.environment == 'prod' }}"
    assert jobs["register-prod"]["needs"] == "promote-dev"
