"""Errors a user of `python -m experiments` meets, each with a message that says what to do.

The CLI prints `str(error)` and exits 2; nothing else is caught, so a bug still shows its traceback.
"""

from __future__ import annotations


class ExperimentError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class NoCredentials(ExperimentError):
    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "No AWS credentials found. Configure them (`aws configure`, `aws sso login --profile NAME` and "
            "AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and run again; --dry-run needs "
            "them too, to read the stacks' outputs." + (f" ({detail})" if detail else "")
        )


class NoRegion(ExperimentError):
    def __init__(self) -> None:
        super().__init__(
            "No AWS region configured. Pass --region, or set AWS_REGION / AWS_DEFAULT_REGION to the "
            "region the elasticml stacks are deployed in."
        )


class StackNotDeployed(ExperimentError):
    def __init__(self, stack: str, region: str, *, others_in_region: bool) -> None:
        how = f"Deploy it with `npx cdk deploy {stack} -c env={stack.split('-')[1]}` (see docs/deploy.md)"
        where = (
            f"Stack {stack} is not deployed in {region}."
            if others_in_region
            else f"Stack {stack} is not deployed in {region}, and no elasticml stack is: is {region} the "
            f"region the platform was deployed in? Pass --region or set AWS_REGION."
        )
        super().__init__(f"{where} {how}.")
        self.stack = stack
        self.region = region


class MissingOutput(ExperimentError):
    def __init__(self, stack: str, output: str, present: list[str]) -> None:
        super().__init__(
            f"Stack {stack} has no output {output} (it has: {', '.join(sorted(present)) or 'none'}). "
            f"It was deployed from an older version of infra/: redeploy it with `npx cdk deploy {stack}`."
        )
        self.stack = stack
        self.output = output


class S3UriNotFound(ExperimentError):
    def __init__(self, uri: str, detail: str = "") -> None:
        super().__init__(
            f"{uri} does not exist (no object and no objects under that prefix)"
            + (f": {detail}" if detail else "")
            + ". Upload the data first, e.g. "
            f"`aws s3 sync ./data/train {uri.rstrip('/')}/`."
        )
        self.uri = uri


class GuardrailViolation(ExperimentError):
    """A request that would leave the platform's guardrails (data outside the role's prefix, no spot
    head-room, an unknown model, ...)."""


class JobFailed(ExperimentError):
    def __init__(self, job_name: str, status: str, reason: str) -> None:
        super().__init__(f"Training job {job_name} ended {status}: {reason or 'no FailureReason given'}")
        self.job_name = job_name
