"""Fixtures for the infrastructure tests: the app synthesized once per session, helpers to read it.

Image build contexts and the metric definitions are small fixed stand-ins, so the snapshots change
only when the infrastructure does, not whenever the training or serving code does. That the real
`training/metric_definitions.json` reaches the training job is pinned in test_training_job.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk import App, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.assertions import Template

from infra.application import REPO_ROOT, Sources, build
from infra.components.network import IsolatedNetwork

CDK_JSON = REPO_ROOT / "cdk.json"
CNN_PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/elasticml-dev-cnn/3"
STACKS = [
    f"elasticml-{env}-{name}"
    for env in ("dev", "prod")
    for name in ("storage", "network", "training", "serving-cnn", "serving-mlp", "ci-access")
]
MEASURED_CAPACITY = {
    "cnn": {
        "max_rps_per_instance": 120.0,
        "p99_slo_ms": 100,
        "instance_type": "ml.c5.xlarge",
        "measured_at": "2026-11-28",
    }
}
MLP_MODEL_DATA = "s3://elasticml-dev-artifacts-111111111111-eu-west-1/training/mlp/job-1/output/model.tar.gz"


# The versions each environment's serving stacks get: `-c <env>:<model>_<key>=...`, scoped to that
# environment (its account in cdk.json), as every environment is synthesized at once.
def _in_prod(version: str) -> str:
    return version.replace("111111111111", "222222222222").replace("-dev-", "-prod-")


VERSIONS = {
    "dev:cnn_model_package_arn": CNN_PACKAGE,
    "dev:mlp_model_data_url": MLP_MODEL_DATA,
    "prod:cnn_model_package_arn": _in_prod(CNN_PACKAGE),
    "prod:mlp_model_data_url": _in_prod(MLP_MODEL_DATA),
}


def base_context() -> dict[str, Any]:
    """cdk.json context as the CLI passes it, without the analytics metadata resource."""
    return {**json.loads(CDK_JSON.read_text())["context"], "aws:cdk:version-reporting": False}


STUB_METRICS = [
    {"Name": "train:loss", "Regex": "epoch=\\d+ .*?train_loss=([-+0-9.eE]+)"},
    {"Name": "final:accuracy", "Regex": "final split=\\w+ .*?accuracy=([-+0-9.eE]+)"},
]


def write_stub_sources(root: Path) -> Sources:
    for name in ("training", "inference"):
        (root / name).mkdir(parents=True, exist_ok=True)
        # The first line names the stand-in, so the two contexts differ (and so do their asset hashes).
        (root / name / "Dockerfile").write_text(
            f"# {name}\nFROM public.ecr.aws/docker/library/python:3.11-slim\nARG FRAMEWORK\n"
        )
    (root / "metric_definitions.json").write_text(json.dumps(STUB_METRICS))
    (root / "monitor").mkdir(parents=True, exist_ok=True)
    (root / "monitor" / "__init__.py").write_text("# monitor stand-in\n")
    return Sources(
        training_dir=root / "training",
        inference_dir=root / "inference",
        metric_definitions_file=root / "metric_definitions.json",
        monitor_dir=root / "monitor",
    )


@dataclass
class Synthesized:
    outdir: Path
    stacks: dict[str, Stack]

    def template(self, name: str) -> Template:
        return Template.from_stack(self.stacks[name])

    def json(self, name: str) -> dict[str, Any]:
        return json.loads((self.outdir / f"{name}.template.json").read_text())


@pytest.fixture(scope="session")
def stub_sources(tmp_path_factory) -> Sources:
    return write_stub_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory, stub_sources) -> Synthesized:
    """Every stack of every environment, serving a model package (cnn) and a model data URL (mlp),
    synthesized once with the cdk-nag and project packs: a finding would fail here. The serving
    capacity is a fixed measurement for cnn and the documented default for mlp, whatever the
    benchmark has written to benchmarks/."""
    return synthesize(tmp_path_factory, stub_sources, "cdk.out", VERSIONS)


def synthesize(tmp_path_factory, sources: Sources, name: str, context: dict[str, Any]) -> Synthesized:
    """The app of cdk.json's context with `context` over it, the serving capacity fixed (MEASURED_CAPACITY)
    and no capacity plans, synthesized with the checks into a new folder `name`."""
    outdir = tmp_path_factory.mktemp(name)
    capacity = tmp_path_factory.mktemp("benchmarks") / "serving_capacity.json"
    capacity.write_text(json.dumps(MEASURED_CAPACITY))
    app = App(
        outdir=str(outdir),
        context={
            **base_context(),
            **context,
            "serving_capacity_file": str(capacity),
            "capacity_plans_dir": str(capacity.parent / "no-plans"),
        },
    )
    stacks = build(app, sources)
    app.synth()
    return Synthesized(outdir=outdir, stacks=stacks)


def image_assets(synthesized: Synthesized, stack: str) -> dict[str, tuple[str, str | None]]:
    """A stack's Docker image assets: image tag -> (build context: `training` or `inference`, FRAMEWORK
    build argument), read from the cloud assembly's asset manifest and the staged stand-in Dockerfiles."""
    manifest = json.loads((synthesized.outdir / f"{stack}.assets.json").read_text())
    out = {}
    for asset in manifest["dockerImages"].values():
        tag = next(iter(asset["destinations"].values()))["imageTag"]
        context = (synthesized.outdir / asset["source"]["directory"] / "Dockerfile").read_text().split("\n")[0]
        out[tag] = (context.removeprefix("# "), (asset["source"].get("dockerBuildArgs") or {}).get("FRAMEWORK"))
    return out


def image_tags_in(value: Any) -> set[str]:
    """The tags of every asset image URI (`Fn::Sub` ...container-assets...:TAG) anywhere in a template value."""
    found = set()
    if isinstance(value, dict):
        sub = value.get("Fn::Sub")
        if isinstance(sub, str) and "container-assets" in sub:
            found.add(sub.rsplit(":", 1)[1])
        for v in value.values():
            found |= image_tags_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= image_tags_in(v)
    return found


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def definition(template: dict[str, Any], logical_id: str | None = None) -> dict[str, Any]:
    """A state machine's definition with each deploy-time token replaced by `${Token}`."""
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    body = machines[logical_id or next(iter(machines))]["Properties"]["DefinitionString"]
    if isinstance(body, str):
        return json.loads(body)
    return json.loads("".join(p if isinstance(p, str) else "${Token}" for p in body["Fn::Join"][1]))


def policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for logical_id, policy in resources(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            out.append((logical_id, statement))
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def bare_stack(name: str = "Bare") -> Stack:
    """A stack in an app with the project's feature flags, for testing one construct alone."""
    flags = {k: v for k, v in base_context().items() if k.startswith("@") or k.startswith("aws:")}
    return Stack(App(context=flags), name)


def isolated_vpc(stack: Stack) -> ec2.Vpc:
    """A plain VPC of two isolated subnets, for a construct that only needs one to stand in."""
    return ec2.Vpc(
        stack,
        "Vpc",
        nat_gateways=0,
        max_azs=2,
        subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )


def project_network(stack: Stack, cidr: str, bucket_names: list[str]) -> IsolatedNetwork:
    """The project's own network construct, its flow logs kept 30 days under a fresh key."""
    return IsolatedNetwork(
        stack,
        "Network",
        cidr=cidr,
        flow_log_key=kms.Key(stack, "Key"),
        flow_log_retention_days=30,
        retain=False,
        bucket_names=bucket_names,
    )


def endpoint_config(
    stack: Stack,
    *,
    instance_type: str = "ml.c5.large",
    kms_key_id: str = "arn:aws:kms:eu-west-1:111111111111:key/k",
    **kwargs: Any,
) -> sagemaker.CfnEndpointConfig:
    """An endpoint config of one instance of model `m` in variant `AllTraffic`; `kwargs` add the rest."""
    return sagemaker.CfnEndpointConfig(
        stack,
        "Config",
        kms_key_id=kms_key_id,
        production_variants=[
            sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name="AllTraffic", model_name="m", instance_type=instance_type, initial_instance_count=1
            )
        ],
        **kwargs,
    )


def inline_function(stack: Stack, **kwargs: Any) -> lambda_.Function:
    """A Python Lambda function with an inline no-op handler; `kwargs` add what a test is about."""
    return lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(e, c): pass"),
        **kwargs,
    )


# Every serving mode in both environments: cdk.json's own modes (dev scale-to-zero, prod realtime,
# the `synthesized` fixture) and these two rotations, the way a user switches `serving.<model>.mode`.
MODE_ROTATIONS = ({"dev": "realtime", "prod": "async"}, {"dev": "async", "prod": "scale-to-zero"})


def with_modes(context: dict[str, Any], modes: dict[str, str]) -> dict[str, Any]:
    """`context` with every model of each named environment in that serving mode, its capacity floor
    and data capture made valid for the mode (realtime: min 1; zero modes: min 0, no capture and so no
    drift monitor)."""
    out = json.loads(json.dumps(context))
    for env, mode in modes.items():
        for serving in out["environments"][env]["serving"].values():
            serving["mode"] = mode
            if mode == "realtime":
                serving["min_capacity"] = max(1, serving["min_capacity"])
            else:
                serving.update(min_capacity=0, data_capture_percent=0)
                serving.pop("drift_monitor", None)  # it needs the realtime mode's data capture
    return out


def synthesize_modes(outdir: Path, sources: Sources, modes: dict[str, str]) -> App:
    """Every stack of every environment, in the given serving modes, synthesized into `outdir` with the
    checks (a finding fails synth); returns the app."""
    app = App(
        outdir=str(outdir),
        context={
            **with_modes(base_context(), modes),
            **VERSIONS,
            "capacity_plans_dir": str(outdir / "no-plans"),
        },
    )
    build(app, sources)
    app.synth()
    return app


def scale_variant(stack: Stack, endpoint_name: str) -> None:
    """Register an endpoint's AllTraffic variant with Application Auto Scaling (target tracking), as the
    autoscaling rules expect: the smallest template that satisfies them."""
    target = appscaling.CfnScalableTarget(
        stack,
        "Target",
        resource_id=f"endpoint/{endpoint_name}/variant/AllTraffic",
        service_namespace="sagemaker",
        scalable_dimension="sagemaker:variant:DesiredInstanceCount",
        min_capacity=1,
        max_capacity=2,
    )
    appscaling.CfnScalingPolicy(
        stack,
        "Policy",
        policy_name="p",
        policy_type="TargetTrackingScaling",
        scaling_target_id=target.ref,
        target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
            target_value=100.0
        ),
    )
