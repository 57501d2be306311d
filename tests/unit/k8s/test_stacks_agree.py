"""The manifests and the SageMaker serving stacks, made from the same cdk.json, agree on the image, the
container's environment, its port, where the model comes from and lands, and the capacity: both
environments and both models, the stacks synthesized with the real inference build context."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from k8s.chart import MODEL_DIR
from k8s.source import REPO_ROOT, read_context
from shared_names import parse_instance_type
from tests.unit.k8s.conftest import ACCOUNTS, Manifests, versions, write_manifests

REGION = "eu-west-1"
MODELS = ("cnn", "mlp")
# Set by the serving stacks' Kubernetes side only: a SageMaker instance's CPUs are the container's, a
# pod's CPU limit is not in its affinity (inference.settings counts CPUs by affinity).
K8S_ONLY = {"INFERENCE_NUM_THREADS"}


def dockerfile_env() -> dict[str, str]:
    """The serving image's ENV defaults that the server reads (SageMaker passes no value for them)."""
    text = (REPO_ROOT / "inference" / "Dockerfile").read_text()
    return dict(re.findall(r"(SAGEMAKER_BIND_TO_PORT|SM_MODEL_DIR)=(\S+)", text))


def resolve(value: Any, env: str) -> Any:
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for token, literal in {
            "${AWS::AccountId}": ACCOUNTS[env],
            "${AWS::Region}": REGION,
            "${AWS::URLSuffix}": "amazonaws.com",
        }.items():
            text = text.replace(token, literal)
        assert "${" not in text, text
        return text
    return value


def of_type(template: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict[str, dict]:
    """Every serving stack of dev and prod, as `cdk synth` makes them, with the real build contexts."""
    import json

    from aws_cdk import App

    from infra.application import build

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(
        outdir=str(outdir),
        context={**read_context(), "aws:cdk:version-reporting": False, **versions("dev"), **versions("prod")},
    )
    build(app)
    app.synth()
    return {p.name.split(".")[0]: json.loads(p.read_text()) for p in Path(outdir).glob("*-serving-*.template.json")}


@pytest.fixture(scope="module")
def images() -> dict[str, dict[str, str]]:
    from infra.images import serving_image_uris

    return {env: serving_image_uris(ACCOUNTS[env], REGION) for env in ACCOUNTS}


@pytest.fixture(scope="module")
def built(tmp_path_factory, images) -> dict[str, Manifests]:
    return {env: write_manifests(tmp_path_factory.mktemp(env), env, images=images[env]) for env in ACCOUNTS}


def serving_container(manifests: Manifests, model: str) -> tuple[dict, dict]:
    spec = manifests.one("Deployment", model)["spec"]["template"]["spec"]
    return spec["initContainers"][0], spec["containers"][0]


@pytest.mark.slow
@pytest.mark.parametrize("env", sorted(ACCOUNTS))
@pytest.mark.parametrize("model", MODELS)
def test_image_environment_port_and_model_path_agree(synthesized, built, env, model):
    template = synthesized[f"elasticml-{env}-serving-{model}"]
    (container,) = [m["PrimaryContainer"] for m in of_type(template, "AWS::SageMaker::Model")]
    fetch, serve = serving_container(built[env], model)
    # the image: the stack's asset, pushed where cdk deploy pushes it
    assert serve["image"] == fetch["image"] == resolve(container["Image"], env)
    # the environment: what SageMaker gives the container, with the image's defaults made explicit
    pod_env = {e["name"]: e["value"] for e in serve["env"]}
    assert {k: v for k, v in pod_env.items() if k not in K8S_ONLY} == {
        **dockerfile_env(),
        **container.get("Environment", {}),
    }
    # the port
    assert serve["ports"][0]["containerPort"] == int(dockerfile_env()["SAGEMAKER_BIND_TO_PORT"])
    assert "EXPOSE 8080" in (REPO_ROOT / "inference" / "Dockerfile").read_text()
    # the model: the same model.tar.gz, unpacked where SageMaker unpacks it
    assert fetch["command"][fetch["command"].index("--source") + 1] == container["ModelDataUrl"]
    assert fetch["command"][-1] == MODEL_DIR == pod_env["SM_MODEL_DIR"]


@pytest.mark.slow
@pytest.mark.parametrize("env", sorted(ACCOUNTS))
@pytest.mark.parametrize("model", MODELS)
def test_capacity_agrees(synthesized, built, env, model):
    template = synthesized[f"elasticml-{env}-serving-{model}"]
    (target,) = of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = [
        p["TargetTrackingScalingPolicyConfiguration"]
        for p in of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
        if "TargetTrackingScalingPolicyConfiguration" in p
    ]
    _, serve = serving_container(built[env], model)
    resources = serve["resources"]["limits"]
    components = of_type(template, "AWS::SageMaker::InferenceComponent")
    if components:  # scale-to-zero: a pod is one copy
        needs = components[0]["Specification"]["ComputeResourceRequirements"]
        assert float(resources["cpu"]) == needs["NumberOfCpuCoresRequired"]
        assert resources["memory"] == f"{needs['MinMemoryRequiredInMb'] // 1024}Gi"
        scaled = built[env].one("ScaledObject", model)["spec"]
        assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (target["MinCapacity"], target["MaxCapacity"])
        prometheus = next(t for t in scaled["triggers"] if t["type"] == "prometheus")["metadata"]
        assert float(prometheus["threshold"]) == pytest.approx(policies[0]["TargetValue"] / 60, abs=0.01)
    else:  # realtime: a pod is one instance
        (config,) = of_type(template, "AWS::SageMaker::EndpointConfig")
        instance_type = config["ProductionVariants"][0]["InstanceType"]
        assert int(resources["cpu"]) == parse_instance_type(instance_type)[1]
        hpa = built[env].one("HorizontalPodAutoscaler", model)["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (target["MinCapacity"], target["MaxCapacity"])
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == policies[0]["ScaleInCooldown"]
        assert hpa["behavior"]["scaleUp"]["policies"][0]["periodSeconds"] == policies[0]["ScaleOutCooldown"]
