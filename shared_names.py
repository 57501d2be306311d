"""The names every part of the platform agrees on, with one home: project, model kinds, content types,
S3 layout, stack names and the CloudFormation output keys, the payload limit.

It imports nothing but the standard library (no framework, no CDK), so `infra`, `experiments`,
`local_mode`, `review`, `planner` and `benchmarks` all import it. The container packages (`training/`,
`inference/`) cannot import outside their build contexts: their copies are pinned to this module by
`tests/unit/test_shared_names.py`.
"""

from __future__ import annotations

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
# quality gate's `security` settings in cdk.json must name one of them (infra/settings.py).
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
