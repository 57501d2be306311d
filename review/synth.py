"""`cdk synth` of one source tree into a cloud assembly, with no AWS credentials, read back by stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared_names import MODEL_KINDS as MODELS
from shared_names import bucket_name, training_output_prefix

# Serving stacks exist only when a model version is given; the review gives each model of each
# environment a placeholder (unless the caller names a version), on both sides, so the endpoints are
# compared too. A version must lie in its environment's artifact bucket under the model's training
# prefix (infra/settings.py), so the placeholder is built from cdk.json.
PLACEHOLDER_KEY = "{prefix}/review-placeholder/output/model.tar.gz"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# cdk-nag findings are reported by the review, so they must not stop synth (they still stop `make synth`).
REVIEW_CONTEXT = {"@aws-cdk/core:failSynthOnValidationErrors": "false"}


VALIDATION_REPORT = "validation-report.json"
VALIDATION_REPORT_ASIDE = "validation-report.reviewed.json"


class SynthError(RuntimeError):
    """Synth of a tree failed; the message holds the tail of its output."""


def placeholder_version(cdk_json: dict[str, Any], env: str, model: str) -> str:
    """A model.tar.gz URL in `env`'s artifact bucket (account and region from cdk.json, else stand-ins)."""
    context = cdk_json.get("context", {})
    settings = context.get("environments", {}).get(env, {})
    bucket = bucket_name(
        env,
        "artifacts",
        settings.get("account") or "000000000000",
        settings.get("region") or "us-east-1",
        str(context.get("project")),
    )
    return f"s3://{bucket}/{PLACEHOLDER_KEY.format(prefix=training_output_prefix(model))}"


def review_context(extra: dict[str, str], tree: Path = PROJECT_ROOT) -> dict[str, str]:
    """The context of both synths: the caller's, plus a placeholder version for each model of the
    environment named with `env` (plain keys), or of every environment (`<env>:` keys, as a version
    given without `-c env` is refused)."""
    context = dict(REVIEW_CONTEXT)
    cdk_json = json.loads((tree / "cdk.json").read_text())
    envs = [extra["env"]] if extra.get("env") else sorted(cdk_json.get("context", {}).get("environments", {}))
    for env in envs:
        scope = "" if extra.get("env") else f"{env}:"
        for model in MODELS:
            keys = [f"{scope}{model}_model_package_arn", f"{scope}{model}_model_data_url"]
            if not any(extra.get(k) for k in keys):
                context[keys[1]] = placeholder_version(cdk_json, env, model)
    return {**context, **extra}


def cdk_env() -> dict[str, str]:
    """The CLI's environment without any AWS credentials: the review never talks to AWS, and the app
    synthesizes every environment only when the CLI has no credentials (infra/application.py)."""
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "FORCE_COLOR": "0",
        "CI": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "CDK_DEFAULT_ACCOUNT",
    ):
        env.pop(key, None)
    return env


def start_synth(cdk: Path, tree: Path, outdir: Path, context: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `cdk synth` of `tree` (the CDK app in its app.py and cdk.json) into `outdir`."""
    args = [
        str(cdk),
        "synth",
        "--quiet",
        "--no-color",
        "--no-notices",
        "--no-version-reporting",
        "--app",
        f"{sys.executable} app.py",
        "--output",
        str(outdir),
    ]
    for key, value in context.items():
        args += ["--context", f"{key}={value}"]
    return subprocess.Popen(args, cwd=tree, env=cdk_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_synth(proc: subprocess.Popen, what: str, log: Path, outdir: Path) -> None:
    """Wait for synth; a run that failed only on validation findings (cdk-nag) still counts, since its
    assembly and validation report are complete and the review reports the findings."""
    if proc.wait() != 0 and not _failed_only_validation(outdir):
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SynthError(f"synth of {what} failed (exit {proc.returncode}):\n{tail}")


def empty_assembly(outdir: Path) -> None:
    """An assembly with no stack, standing for a tree that has no CDK app yet."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "manifest.json").write_text(json.dumps({"version": "0", "artifacts": {}}))


def _failed_only_validation(outdir: Path) -> bool:
    report = outdir / VALIDATION_REPORT
    if not (outdir / "manifest.json").is_file() or not report.is_file():
        return False
    return any(r.get("conclusion") == "failure" for r in json.loads(report.read_text()).get("pluginReports", []))


@dataclass
class Assembly:
    """A synthesized cloud assembly: templates and construct metadata of each stack."""

    outdir: Path

    def __post_init__(self) -> None:
        manifest = json.loads((self.outdir / "manifest.json").read_text())
        self.artifacts = {
            name: a for name, a in manifest.get("artifacts", {}).items() if a.get("type") == "aws:cloudformation:stack"
        }
        reports = [self.outdir / VALIDATION_REPORT, self.outdir / VALIDATION_REPORT_ASIDE]
        self.report: dict[str, Any] = next((json.loads(r.read_text()) for r in reports if r.is_file()), {})

    @property
    def stacks(self) -> list[str]:
        return sorted(self.artifacts)

    def template_path(self, stack: str) -> Path:
        return self.outdir / self.artifacts[stack]["properties"]["templateFile"]

    def template(self, stack: str) -> dict[str, Any]:
        return json.loads(self.template_path(stack).read_text())

    def metadata(self, stack: str) -> dict[str, list[dict[str, Any]]]:
        """Construct path -> metadata entries (inline in the manifest, or in the stack's metadata file)."""
        artifact = self.artifacts[stack]
        if "additionalMetadataFile" in artifact:
            return json.loads((self.outdir / artifact["additionalMetadataFile"]).read_text())
        return artifact.get("metadata", {})

    def validation_report(self) -> dict[str, Any]:
        return self.report

    def set_report_aside(self) -> None:
        """`cdk diff --app ASSEMBLY` refuses an assembly whose validation failed; the review has read
        the findings already, so the report is moved aside before the diff."""
        report = self.outdir / VALIDATION_REPORT
        if report.is_file():
            report.rename(self.outdir / VALIDATION_REPORT_ASIDE)
