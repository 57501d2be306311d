"""The project's own checks, for what the AwsSolutions and NIST 800-53 packs do not cover.

A cdk-nag v3 pack (a policy-validation plugin): `Validations.of(app).add_plugins(ProjectChecks(app))`.
Each rule looks at one synthesized resource, resolved, and reports its rule id
`Project-<Rule>` on violation.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsii
from aws_cdk import CfnResource, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import IApplyRule, NagMessageLevel, NagPack, NagRuleCompliance
from constructs import IConstruct

COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE = (NagRuleCompliance.COMPLIANT, NagRuleCompliance.NON_COMPLIANT,
                                            NagRuleCompliance.NOT_APPLICABLE)


def _resolve(node: CfnResource, value: Any) -> Any:
    """A property of an L1 resource, resolved to plain JSON-like values (keys in either case)."""
    return Stack.of(node).resolve(value)


def _get(mapping: Any, key: str) -> Any:
    """`mapping[key]`, whichever case the first letter has (CloudFormation vs jsii struct keys)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(key, mapping.get(key[0].lower() + key[1:]))


def endpoint_config_kms(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, sagemaker.CfnEndpointConfig):
        return NOT_APPLICABLE
    capture = _resolve(node, node.data_capture_config)
    async_output = _get(_resolve(node, node.async_inference_config), "OutputConfig")
    ok = (bool(_resolve(node, node.kms_key_id)) and (not capture or bool(_get(capture, "KmsKeyId")))
          and (async_output is None or bool(_get(async_output, "KmsKeyId"))))
    return COMPLIANT if ok else NON_COMPLIANT


def model_network_isolation(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, sagemaker.CfnModel):
        return NOT_APPLICABLE
    vpc = _resolve(node, node.vpc_config)
    ok = (_resolve(node, node.enable_network_isolation) is True and bool(_get(vpc, "Subnets"))
          and bool(_get(vpc, "SecurityGroupIds")))
    return COMPLIANT if ok else NON_COMPLIANT


def endpoint_autoscaling(node: CfnResource) -> NagRuleCompliance:
    """Every variant of an endpoint has a scalable target with a target-tracking policy in its stack."""
    if not isinstance(node, sagemaker.CfnEndpoint):
        return NOT_APPLICABLE
    stack = Stack.of(node)
    name = stack.resolve(node.endpoint_name)
    if not isinstance(name, str):
        return NON_COMPLIANT  # an autoscaling target needs an endpoint name known at synth
    config_ref = json.dumps(stack.resolve(node.endpoint_config_name))
    configs = [c for c in stack.node.find_all() if isinstance(c, sagemaker.CfnEndpointConfig)
               and stack.get_logical_id(c) in config_ref]
    variants = [_get(v, "VariantName") for c in configs for v in _resolve(c, c.production_variants)]
    targets = {stack.get_logical_id(t): stack.resolve(t.resource_id) for t in stack.node.find_all()
               if isinstance(t, appscaling.CfnScalableTarget)}
    tracked = {json.dumps(stack.resolve(p.scaling_target_id)) for p in stack.node.find_all()
               if isinstance(p, appscaling.CfnScalingPolicy) and p.target_tracking_scaling_policy_configuration}
    endpoint_ref = stack.get_logical_id(node)
    components = [stack.resolve(c.inference_component_name) for c in stack.node.find_all()
                  if isinstance(c, sagemaker.CfnInferenceComponent)
                  and endpoint_ref in json.dumps(stack.resolve(c.endpoint_name))]
    model_free = all(not _get(v, "ModelName") for c in configs for v in _resolve(c, c.production_variants))
    if configs and model_free:  # models are inference components: each scales its copy count
        wanted_ids = [f"inference-component/{c}" for c in components] or ["<no component>"]
    else:
        wanted_ids = [f"endpoint/{name}/variant/{variant}" for variant in variants or ["<none>"]]
    for wanted in wanted_ids:
        ids = [logical_id for logical_id, resource_id in targets.items() if resource_id == wanted]
        if not any(logical_id in ref for logical_id in ids for ref in tracked):
            return NON_COMPLIANT
    return COMPLIANT


def scale_out_from_zero(node: CfnResource) -> NagRuleCompliance:
    """A scalable target that may reach 0 has a step policy that an alarm triggers: target tracking
    cannot leave zero (no instance, no per-instance metric), so without one it stays at zero."""
    if not isinstance(node, appscaling.CfnScalableTarget):
        return NOT_APPLICABLE
    stack = Stack.of(node)
    if stack.resolve(node.min_capacity) != 0:
        return NOT_APPLICABLE
    target_id = stack.get_logical_id(node)
    steps = [stack.get_logical_id(p) for p in stack.node.find_all()
             if isinstance(p, appscaling.CfnScalingPolicy) and p.step_scaling_policy_configuration
             and target_id in json.dumps(stack.resolve(p.scaling_target_id))]
    actions = [json.dumps(stack.resolve(a.alarm_actions)) for a in stack.node.find_all()
               if isinstance(a, cloudwatch.CfnAlarm) and a.alarm_actions]
    return COMPLIANT if any(step in action for step in steps for action in actions) else NON_COMPLIANT


def _definition(node: sfn.CfnStateMachine) -> dict[str, Any]:
    """The state machine definition with every deploy-time token replaced by a placeholder."""
    resolved = Stack.of(node).resolve(node.definition_string)
    if isinstance(resolved, str):
        return json.loads(resolved)
    parts = resolved["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def _states(definition: dict[str, Any]):
    for state in definition.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []) + ([state["Iterator"]] if "Iterator" in state else []):
            yield from _states(branch)


def training_job_isolated(node: CfnResource) -> NagRuleCompliance:
    """Training jobs started by a state machine run in the VPC, isolated, with encrypted traffic and KMS."""
    if not isinstance(node, sfn.CfnStateMachine) or node.definition_string is None:
        return NOT_APPLICABLE
    jobs = [s.get("Parameters", {}) for s in _states(_definition(node))
            if "sagemaker:createTrainingJob" in str(s.get("Resource", ""))]
    if not jobs:
        return NOT_APPLICABLE
    for p in jobs:
        vpc = p.get("VpcConfig") or {}
        if not (vpc.get("Subnets") and vpc.get("SecurityGroupIds") and p.get("EnableNetworkIsolation") is True
                and p.get("EnableInterContainerTrafficEncryption") is True
                and (p.get("OutputDataConfig") or {}).get("KmsKeyId")
                and (p.get("ResourceConfig") or {}).get("VolumeKmsKeyId")):
            return NON_COMPLIANT
    return COMPLIANT


RULES: dict[str, tuple[Callable[[CfnResource], NagRuleCompliance], str, str]] = {
    "EndpointConfigKms": (endpoint_config_kms, "The SageMaker endpoint config does not encrypt with a KMS key.",
                          "Instance storage and captured data of an endpoint must use the project CMK."),
    "ModelNetworkIsolation": (model_network_isolation, "The SageMaker model is not network-isolated in the VPC.",
                              "Models run with EnableNetworkIsolation and a VpcConfig."),
    "EndpointAutoscaling": (endpoint_autoscaling, "An endpoint variant has no target-tracking autoscaling.",
                            "Every variant of every endpoint (or, on an endpoint of inference components, every "
                            "component) needs a scalable target and a target-tracking policy."),
    "ScaleOutFromZero": (scale_out_from_zero, "A scalable target with minimum 0 has no alarm-driven step policy.",
                         "A target that scales to zero needs a step scaling policy triggered by a CloudWatch "
                         "alarm (NoCapacityInvocationFailures, HasBacklogWithoutCapacity) to scale out again."),
    "TrainingJobIsolated": (training_job_isolated, "A training job is not isolated in the VPC with encryption.",
                            "Training jobs need VpcConfig, network isolation, inter-container encryption and "
                            "KMS on volume and output."),
}


@jsii.implements(IApplyRule)
class _Rule:
    """One rule applied to one resource, in the shape cdk-nag's `applyRule` reads."""

    def __init__(self, suffix: str, check: Callable[[CfnResource], NagRuleCompliance], info: str,
                 explanation: str, node: CfnResource) -> None:
        self._suffix, self._check, self._info, self._explanation, self._node = suffix, check, info, explanation, node

    @property
    def rule_suffix_override(self) -> str:
        return self._suffix

    @property
    def info(self) -> str:
        return self._info

    @property
    def explanation(self) -> str:
        return self._explanation

    @property
    def level(self) -> NagMessageLevel:
        return NagMessageLevel.ERROR

    @property
    def node(self) -> CfnResource:
        return self._node

    def rule(self, node: CfnResource) -> NagRuleCompliance:
        return self._check(node)


class ProjectChecks(NagPack):
    """Rule pack `Project`: endpoint config KMS, model network isolation, endpoint autoscaling, scale out
    from zero, training jobs in the VPC with encryption."""

    def __init__(self, scope: IConstruct | None = None) -> None:
        super().__init__(scope)
        self._pack_name = "Project"

    @property
    @jsii.member(jsii_name="name")
    def name(self) -> str:
        return "Project"

    @jsii.member(jsii_name="checkResource")
    def _check_resource(self, node: CfnResource) -> None:
        for suffix, (check, info, explanation) in RULES.items():
            self._apply_rule(_Rule(suffix, check, info, explanation, node))
