"""The names every part of the platform agrees on, with one home: project, model kinds, content types,
S3 layout, stack and bucket names, the CloudFormation output keys, the payload limit, the files infra
reads from the benchmarks and the planner, and the ML instance types (their naming and vCPUs).

It imports nothing but the standard library (no framework, no CDK), so `infra`, `experiments`,
`local_mode`, `review`, `planner` and `benchmarks` all import it. The container packages (`training/`,
`inference/`) cannot import outside their build contexts: their copies are pinned to this module by
`tests/unit/test_shared_names.py`.
"""

from __future__ import annotations

import re

# `project` in cdk.json context; infra validates it (infra/settings.py) and a test pins the two together.
PROJECT = "elasticml"

# Model kinds, in the order stacks, reports and loops use them.
MODEL_KINDS = ("cnn", "mlp")
FRAMEWORK_BY_MODEL = {"cnn": "pytorch", "mlp": "tensorflow"}

# Training channels of the training contract (SM_CHANNEL_<NAME>).
CHANNELS = ("train", "validation", "test")
# The MLP's optional channel of synthetic speakers (`python -m training.synthesize`); the CNN has none.
SYNTHETIC_CHANNEL = "synthetic"
CHANNELS_BY_MODEL: dict[str, tuple[str, ...]] = {"cnn": CHANNELS, "mlp": (*CHANNELS, SYNTHETIC_CHANNEL)}
# The security evaluation's attacks and default budgets per model (training/training/security; the job
# records accuracies under evaluation.json["security"]["robustness"]["accuracy"][attack][budget]); the
# quality gate's `security` settings in cdk.json must name one of them (infra/training_settings.py).
SECURITY_ATTACKS: dict[str, tuple[str, ...]] = {"cnn": ("fgsm", "pgd"), "mlp": ("pgd", "noise")}
SECURITY_DEFAULT_BUDGETS: dict[str, str] = {"cnn": "1/255,2/255,4/255,8/255", "mlp": "40,30,20"}
SECURITY_BUDGET_HYPERPARAMETER: dict[str, str] = {"cnn": "security_eps", "mlp": "security_snr_db"}

# The content types each model kind's endpoint advertises (model package InferenceSpecification
# SupportedContentTypes, experiment model packages). The server also accepts `audio/wave` as an alias
# of `audio/wav` (WAV_ALIASES), which is not advertised.
CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "cnn": ("image/png", "image/jpeg", "application/x-npy", "application/json"),
    "mlp": ("audio/wav", "audio/x-wav", "application/x-npy", "application/json"),
}
WAV_ALIASES = ("audio/wave",)
RESPONSE_CONTENT_TYPE = "application/json"

# SageMaker real-time invocation payload limit, 6 MB: the InvokeEndpoint request body
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_BYTES = MAX_PAYLOAD_MB * 1024 * 1024

# Stacks: `<project>-<env>-<part>`.
STACK_PARTS = ("network", "storage", "training", "serving", "ci-access")


def stack_prefix(env: str, project: str = PROJECT) -> str:
    """`elasticml-dev`: the prefix of every stack and resource name of one environment."""
    return f"{project}-{env}"


def stack_name(env: str, part: str, project: str = PROJECT) -> str:
    if part not in STACK_PARTS:
        raise ValueError(f"unknown stack part {part!r}; allowed: {', '.join(STACK_PARTS)}")
    return f"{stack_prefix(env, project)}-{part}"


def bucket_name(env: str, purpose: str, account: str, region: str, project: str = PROJECT) -> str:
    """`elasticml-dev-artifacts-111111111111-eu-west-1`: globally unique and known before deploy. `purpose`
    is `data`, `artifacts` or `access-logs`; `account`/`region` may be CloudFormation tokens."""
    return f"{stack_prefix(env, project)}-{purpose}-{account}-{region}"


# S3 layout. Data bucket: `<model>/<channel>/`. Artifact bucket: `training/<model>/` (job output,
# model.tar.gz and output.tar.gz) and `checkpoints/<model>/<job>/`.
TRAINING_OUTPUT_ROOT = "training"
CHECKPOINT_ROOT = "checkpoints"


def data_prefix(model: str) -> str:
    return model


def training_output_prefix(model: str) -> str:
    return f"{TRAINING_OUTPUT_ROOT}/{model}"


MONITOR_REPORT_ROOT = "monitor"  # drift reports: monitor/<model>/<job name>/ in the artifact bucket
DATA_CAPTURE_ROOT = "data-capture"  # realtime endpoints' captures: data-capture/<model>/<endpoint>/<variant>/...
# The drift monitor's CloudWatch metrics: namespace and dimension (monitor/metrics.py keeps a copy, pinned
# to these by tests/unit/test_shared_names.py: the monitor's image holds no shared_names).
MONITOR_NAMESPACE = "ElasticML/Monitor"
MONITOR_DIMENSION = "Model"


def monitor_report_prefix(model: str) -> str:
    return f"{MONITOR_REPORT_ROOT}/{model}"


def data_capture_prefix(model: str) -> str:
    return f"{DATA_CAPTURE_ROOT}/{model}"


def checkpoint_prefix(model: str) -> str:
    return f"{CHECKPOINT_ROOT}/{model}"


# Stack outputs that other tools read: field -> (stack part, output key).
STORAGE_OUTPUTS = {"data_bucket": "DataBucketName", "artifact_bucket": "ArtifactBucketName", "key_arn": "KeyArn"}
NETWORK_OUTPUTS = {"subnet_ids": "IsolatedSubnetIds"}


def model_output_key(model: str, name: str) -> str:
    """Per-model output keys of the training stack: `CnnTrainingRoleArn` for ("cnn", "TrainingRoleArn")."""
    return f"{model.capitalize()}{name}"


# Per-model output names of the training stack (prefixed with the capitalized model kind).
TRAINING_MODEL_OUTPUTS = {
    "state_machine_arn": "StateMachineArn",
    "model_package_group": "ModelPackageGroup",
    "training_image_uri": "TrainingImageUri",
    "inference_image_uri": "InferenceImageUri",  # the serving image of the model's framework
    "training_role_arn": "TrainingRoleArn",
    "training_security_group_id": "TrainingSecurityGroupId",
    "model_role_arn": "ExperimentModelRoleArn",
    "model_security_group_id": "ExperimentSecurityGroupId",
}
# What `experiments` reads: the state machine is not among them.
EXPERIMENT_FIELDS = (
    "data_bucket",
    "artifact_bucket",
    "key_arn",
    "subnet_ids",
    "training_image_uri",
    "training_role_arn",
    "training_security_group_id",
    "model_package_group",
    "inference_image_uri",
    "model_role_arn",
    "model_security_group_id",
)


def output_keys(model: str) -> dict[str, tuple[str, str]]:
    """Every stack output `experiments` reads for one model: field -> (stack part, CloudFormation output key)."""
    keys: dict[str, tuple[str, str]] = {}
    keys.update({f: ("storage", k) for f, k in STORAGE_OUTPUTS.items()})
    keys.update({f: ("network", k) for f, k in NETWORK_OUTPUTS.items()})
    keys.update({f: ("training", model_output_key(model, k)) for f, k in TRAINING_MODEL_OUTPUTS.items()})
    return {f: keys[f] for f in EXPERIMENT_FIELDS}


# Continuous deployment (infra/stacks/ci_access_stack.py, release/, .github/workflows/).
# Outputs of `<project>-<env>-ci-access`.
CI_ACCESS_OUTPUTS = {"deploy_role_arn": "DeployRoleArn", "deployed_commit": "DeployedCommit"}
# The git tag that mirrors an environment's DeployedCommit, for reviews made without AWS credentials.
DEPLOYED_TAG_PREFIX = "deployed/"
# The repository_dispatch event type a registry approval sends to the promote workflow.
DISPATCH_EVENT_TYPE = "model-approved"
# Model registry metadata (CustomerMetadataProperties) written by promotion: the endpoint a package
# serves now, when it first served in an environment, and the package a promoted one was copied from.
SERVING_ENDPOINT_KEY = "serving_endpoint"
SOURCE_PACKAGE_KEY = "source_package_arn"


def served_in_key(env: str) -> str:
    """`served_in_dev`: the metadata key holding when a package first served in `env`."""
    return f"served_in_{env}"


def deploy_role_name(env: str, project: str = PROJECT) -> str:
    """The release workflow's role in an environment's account; a fixed name, so the workflow can name it
    from cdk.json alone."""
    return f"{stack_prefix(env, project)}-github-deploy"


def deployed_tag(env: str) -> str:
    return f"{DEPLOYED_TAG_PREFIX}{env}"


# Files infra reads as data (paths from the repository root): the serving benchmark's measured capacity
# per model (`make bench-serve` writes it) and the planner's plans, `<dir>/<env>-<model>.json` (`make plan`).
SERVING_CAPACITY_FILE = "benchmarks/serving_capacity.json"
CAPACITY_PLANS_DIR = "planner/plans"


# ML instance types, `ml.<family>.<size>`. The sizes follow the EC2 naming every ML instance family here
# uses: medium and large = 2 vCPUs, xlarge = 4, Nxlarge = 4N (https://aws.amazon.com/sagemaker/ai/pricing/
# lists vCPUs per ML instance; e.g. ml.c5.large 2, ml.c5.xlarge 4, ml.c5.9xlarge 36, ml.g5.2xlarge 8;
# ml.t2.medium has 2). infra validates instance types with it; infra, the planner and the Kubernetes
# manifests size capacity by it.
INSTANCE_TYPE = re.compile(r"ml\.([a-z0-9]+)\.([a-z0-9]+)")
VCPUS_BY_SIZE = {
    "medium": 2,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "9xlarge": 36,
    "12xlarge": 48,
    "16xlarge": 64,
    "18xlarge": 72,
    "24xlarge": 96,
    "32xlarge": 128,
    "48xlarge": 192,
}


class InstanceTypeError(ValueError):
    """Not an instance type of the form ml.<family>.<size>, or a family other than the one measured on."""


def parse_instance_type(instance_type: str) -> tuple[str, int]:
    """(family, vCPUs) of `ml.<family>.<size>`."""
    match = INSTANCE_TYPE.fullmatch(instance_type or "")
    if not match or match.group(2) not in VCPUS_BY_SIZE:
        raise InstanceTypeError(
            f"{instance_type!r} is not an instance type of the form ml.<family>.<size>; "
            f"sizes: {', '.join(VCPUS_BY_SIZE)}"
        )
    return match.group(1), VCPUS_BY_SIZE[match.group(2)]


def scale_to(rps: float, measured_type: str, target_type: str) -> tuple[float, str]:
    """Capacity measured as `measured_type`, scaled by vCPU count to `target_type` (same family only).

    Returns the scaled figure and a sentence saying how it was scaled. Linear in vCPUs: the server
    runs one worker per core, so throughput scales with cores while memory is not the limit (the
    capacity file records the memory it was measured with).
    """
    m_family, m_vcpus = parse_instance_type(measured_type)
    t_family, t_vcpus = parse_instance_type(target_type)
    if m_family != t_family:
        raise InstanceTypeError(
            f"{target_type}: family {t_family!r} differs from {m_family!r}, the family the "
            f"capacity was measured as ({measured_type}); measure it on {t_family} or "
            f"choose an ml.{m_family}.* type"
        )
    scaled = rps * t_vcpus / m_vcpus
    return (
        scaled,
        f"{rps:g} req/s measured as {measured_type} ({m_vcpus} vCPU) x {t_vcpus}/{m_vcpus} vCPU "
        f"= {scaled:g} req/s on {target_type}",
    )
