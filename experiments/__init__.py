"""Ad-hoc experiments with the SageMaker Python SDK v3, inside the platform's guardrails.

Client-side only (neither container image holds it). `python -m experiments launch|deploy|teardown`, or:

    from experiments import LaunchRequest, launch, deploy, teardown
    launch(LaunchRequest(env="dev", model="cnn", train="s3://elasticml-dev-data-.../cnn/train/", wait=True))
"""

from experiments.api import AwsAccess, LaunchRequest, Result, deploy, launch, teardown
from experiments.errors import ExperimentError

__all__ = ["ExperimentError", "Result", "deploy", "launch", "teardown"]

__all__ = ["AwsAccess", "ExperimentError", "LaunchRequest", "Result", "deploy", "launch", "teardown"]
