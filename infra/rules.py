"""The project's own checks, for what the AwsSolutions and NIST 800-53 packs do not cover.

A cdk-nag v3 pack (a policy-validation plugin): `Validations.of(app).add_plugins(ProjectChecks(app))`.
Each rule looks at one synthesized resource, resolved, and reports its rule id
`Project-<Rule>` on violation.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import CfnResource, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import IApplyRule, NagMessageLevel, NagPack, NagRuleCompliance
from constructs import IConstruct

from infra.instance_storage import has_instance_storage

# Construct metadata the constructs write and the rules below read (one home for each name).
SUSPENDED_METADATA = "elasticml:autoscaling-suspended"  # serving.<model>.autoscaling_suspended
RESERVED_CONCURRENCY_OPT_IN = "elasticml:reserved-concurrency"  # infra.components.evaluation.reserve_concurrency

COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE = (
    NagRuleCompliance.COMPLIANT,
    NagRuleCompliance.NON_COMPLIANT,
    NagRuleCompliance.NOT_APPLICABLE,
)


def _resolve(node: CfnResource, value: Any) -> Any:
    """A property of an L1 resource, resolved to plain JSON-like values (keys in either case)."""
    return Stack.of(node).resolve(value)


def _get(mapping: Any, key: str) -> Any:
    """`mapping[key]`, whichever case the first letter has (CloudFormation vs jsii struct keys)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(key, mapping.get(key[0].lower() + key[1:]))


def endpoint_config_kms(node: CfnResource) -> NagRuleCompliance:
    """The endpoint config encrypts the instance storage volume and the captured data with a KMS key.
    Variants on instance types with local (NVMe) storage are the exception for the volume: SageMaker
    refuses KmsKeyId for them (see `volume_kms_on_instance_storage`)."""
    if not isinstance(node, sagemaker.CfnEndpointConfig):
        return NOT_APPLICABLE
    capture = _resolve(node, node.data_capture_config)
    async_output = _get(_resolve(node, node.async_inference_config), "OutputConfig")
    local = any(has_instance_storage(t) for t in _variant_types(node))
    ok = (
        (local or bool(_resolve(node, node.kms_key_id)))
        and (not capture or bool(_get(capture, "KmsKeyId")))
        and (async_output is None or bool(_get(async_output, "KmsKeyId")))
    )
    return COMPLIANT if ok else NON_COMPLIANT


def _variant_types(node: sagemaker.CfnEndpointConfig) -> list[Any]:
    return [_get(v, "InstanceType") for v in _resolve(node, node.production_variants) or []]


def model_network_isolation(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, sagemaker.CfnModel):
        return NOT_APPLICABLE
    vpc = _resolve(node, node.vpc_config)
    ok = (
        _resolve(node, node.enable_network_isolation) is True
        and bool(_get(vpc, "Subnets"))
        and bool(_get(vpc, "SecurityGroupIds"))
    )
    return COMPLIANT if ok else NON_COMPLIANT


def endpoint_autoscaling(node: CfnResource) -> NagRuleCompliance:
    """Every variant of an endpoint has a scalable target with a target-tracking policy in its stack."""
    if not isinstance(node, sagemaker.CfnEndpoint):
        return NOT_APPLICABLE
    if _suspended(node):
        return COMPLIANT  # deregistered on purpose while its instance type changes (see _suspended)
    stack = Stack.of(node)
    name = stack.resolve(node.endpoint_name)
    if not isinstance(name, str):
        return NON_COMPLIANT  # an autoscaling target needs an endpoint name known at synth
    config_ref = json.dumps(stack.resolve(node.endpoint_config_name))
    configs = [
        c
        for c in stack.node.find_all()
        if isinstance(c, sagemaker.CfnEndpointConfig) and stack.get_logical_id(c) in config_ref
    ]
    variants = [_get(v, "VariantName") for c in configs for v in _resolve(c, c.production_variants)]
    targets = {
        stack.get_logical_id(t): stack.resolve(t.resource_id)
        for t in stack.node.find_all()
        if isinstance(t, appscaling.CfnScalableTarget)
    }
    tracked = {
        json.dumps(stack.resolve(p.scaling_target_id))
        for p in stack.node.find_all()
        if isinstance(p, appscaling.CfnScalingPolicy) and p.target_tracking_scaling_policy_configuration
    }
    endpoint_ref = stack.get_logical_id(node)
    components = [
        stack.resolve(c.inference_component_name)
        for c in stack.node.find_all()
        if isinstance(c, sagemaker.CfnInferenceComponent) and endpoint_ref in json.dumps(stack.resolve(c.endpoint_name))
    ]
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
    steps = [
        stack.get_logical_id(p)
        for p in stack.node.find_all()
        if isinstance(p, appscaling.CfnScalingPolicy)
        and p.step_scaling_policy_configuration
        and target_id in json.dumps(stack.resolve(p.scaling_target_id))
    ]
    actions = [
        json.dumps(stack.resolve(a.alarm_actions))
        for a in stack.node.find_all()
        if isinstance(a, cloudwatch.CfnAlarm) and a.alarm_actions
    ]
    return COMPLIANT if any(step in action for step in steps for action in actions) else NON_COMPLIANT


def _definition(node: sfn.CfnStateMachine) -> dict[str, Any]:
    """The state machine definition with every deploy-time token put back as its resolved value
    (a `{"Ref": ...}` or `{"Fn::GetAtt": ...}` object) where it stood alone in a JSON string."""
    resolved = Stack.of(node).resolve(node.definition_string)
    if isinstance(resolved, str):
        return json.loads(resolved)
    tokens: dict[str, Any] = {}
    text = []
    for part in resolved["Fn::Join"][1]:
        if isinstance(part, str):
            text.append(part)
        else:
            marker = f"__TOKEN{len(tokens)}__"
            tokens[marker] = part
            text.append(marker)

    def restore(value: Any) -> Any:
        if isinstance(value, str):
            return tokens.get(value, value)
        if isinstance(value, list):
            return [restore(v) for v in value]
        if isinstance(value, dict):
            return {k: restore(v) for k, v in value.items()}
        return value

    return restore(json.loads("".join(text)))


def _states(definition: dict[str, Any]):
    for state in definition.get("States", {}).values():
        yield state
        inner = [state[key] for key in ("Iterator", "ItemProcessor") if key in state]
        for branch in state.get("Branches", []) + inner:
            yield from _states(branch)


def _training_jobs(node: CfnResource) -> list[dict[str, Any]]:
    """The CreateTrainingJob parameters of every state of a state machine that starts one."""
    if not isinstance(node, sfn.CfnStateMachine) or node.definition_string is None:
        return []
    return [
        s.get("Parameters", {})
        for s in _states(_definition(node))
        if "sagemaker:createTrainingJob" in str(s.get("Resource", ""))
    ]


def training_job_isolated(node: CfnResource) -> NagRuleCompliance:
    """Training jobs started by a state machine run in the VPC, isolated, with encrypted traffic and KMS
    (on the volume unless the instance type has local storage, where SageMaker refuses a key)."""
    jobs = _training_jobs(node)
    if not jobs:
        return NOT_APPLICABLE
    for p in jobs:
        vpc = p.get("VpcConfig") or {}
        resources = p.get("ResourceConfig") or {}
        if not (
            vpc.get("Subnets")
            and vpc.get("SecurityGroupIds")
            and p.get("EnableNetworkIsolation") is True
            and p.get("EnableInterContainerTrafficEncryption") is True
            and (p.get("OutputDataConfig") or {}).get("KmsKeyId")
            and (resources.get("VolumeKmsKeyId") or has_instance_storage(resources.get("InstanceType")))
        ):
            return NON_COMPLIANT
    return COMPLIANT


def _processing_jobs(node: CfnResource) -> list[dict[str, Any]]:
    """The CreateProcessingJob arguments of every state that starts one (`Arguments` in JSONata,
    `Parameters` in JSONPath)."""
    if not isinstance(node, sfn.CfnStateMachine) or node.definition_string is None:
        return []
    return [
        s.get("Arguments") or s.get("Parameters") or {}
        for s in _states(_definition(node))
        if "sagemaker:createProcessingJob" in str(s.get("Resource", ""))
    ]


def processing_job_isolated(node: CfnResource) -> NagRuleCompliance:
    """Processing jobs started by a state machine (the drift monitor) run in the VPC with network
    isolation and KMS on the output (and on the volume unless the instance type has local storage).
    NetworkConfig: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_NetworkConfig.html"""
    jobs = _processing_jobs(node)
    if not jobs:
        return NOT_APPLICABLE
    for p in jobs:
        network = p.get("NetworkConfig") or {}
        vpc = network.get("VpcConfig") or {}
        cluster = (p.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        if not (
            vpc.get("Subnets")
            and vpc.get("SecurityGroupIds")
            and network.get("EnableNetworkIsolation") is True
            and (p.get("ProcessingOutputConfig") or {}).get("KmsKeyId")
            and (cluster.get("VolumeKmsKeyId") or has_instance_storage(cluster.get("InstanceType")))
        ):
            return NON_COMPLIANT
    return COMPLIANT


def lambda_vpc_eni_permissions(node: CfnResource) -> NagRuleCompliance:
    """A Lambda function in a VPC has an execution role that may create, describe and delete network
    interfaces: Lambda checks this when the function is created and refuses it otherwise. The CDK adds
    AWSLambdaVPCAccessExecutionRole only to roles it creates itself, never to a role passed in.
    Source: https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html (execution role
    permissions: ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces, ec2:DescribeSubnets,
    ec2:DeleteNetworkInterface, ec2:AssignPrivateIpAddresses, ec2:UnassignPrivateIpAddresses) and
    https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaVPCAccessExecutionRole.html."""
    if not isinstance(node, lambda_.CfnFunction):
        return NOT_APPLICABLE
    vpc = _resolve(node, node.vpc_config)
    if not _get(vpc, "SubnetIds"):
        return NOT_APPLICABLE
    role = _role(node, _resolve(node, node.role))
    if role is None:
        return NOT_APPLICABLE  # a role from outside this stack: its policies cannot be seen here
    if any(m in json.dumps(_resolve(role, role.managed_policy_arns)) for m in ENI_MANAGED_POLICIES):
        return COMPLIANT
    return COMPLIANT if _role_allows(role, LAMBDA_ENI_ACTIONS) else NON_COMPLIANT


def _role(node: CfnResource, reference: Any) -> iam.CfnRole | None:
    """The role of `node`'s stack that a resolved `{"Fn::GetAtt": [id, "Arn"]}` or `{"Ref": id}` names."""
    stack = Stack.of(node)
    role_id = _logical_id_of(reference)
    return next(
        (r for r in stack.node.find_all() if isinstance(r, iam.CfnRole) and stack.get_logical_id(r) == role_id),
        None,
    )


def _role_allows(role: iam.CfnRole, actions: tuple[str, ...]) -> bool:
    """Whether the role's inline policies and the AWS::IAM::Policy resources attached to it Allow every
    one of `actions` (wildcards in the policies match; resources and conditions are not compared)."""
    stack = Stack.of(role)
    role_id = stack.get_logical_id(role)
    documents = [_get(p, "PolicyDocument") for p in _resolve(role, role.policies) or []]
    documents += [
        _resolve(p, p.policy_document)
        for p in stack.node.find_all()
        if isinstance(p, iam.CfnPolicy) and {"Ref": role_id} in (_resolve(p, p.roles) or [])
    ]
    allowed = {a for d in documents for a in _allowed_actions(d)}
    return all(any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in allowed) for action in actions)


ENI_MANAGED_POLICIES = ("AWSLambdaVPCAccessExecutionRole", "AWSLambdaENIManagementAccess")
LAMBDA_ENI_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface")


def _allowed_actions(document: Any) -> list[str]:
    out = []
    for statement in (_get(document, "Statement") or []) if isinstance(document, dict) else []:
        if _get(statement, "Effect") == "Allow":
            actions = _get(statement, "Action")
            out += actions if isinstance(actions, list) else [actions]
    return [a for a in out if isinstance(a, str)]


def _logical_id_of(reference: Any) -> str | None:
    """The logical ID in a resolved `{"Ref": id}` or `{"Fn::GetAtt": [id, attribute]}`."""
    if isinstance(reference, dict):
        if "Ref" in reference:
            return reference["Ref"]
        if "Fn::GetAtt" in reference:
            return reference["Fn::GetAtt"][0]
    return None


@dataclass(frozen=True)
class _Traffic:
    """One security group rule, ingress or egress, reduced to what the rules below compare."""

    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: Any = None
    prefix_list: Any = None
    peer_group: Any = None

    def allows(self, protocols: tuple[str, ...], port: int | None) -> bool:
        if self.protocol == "-1":
            return True
        if self.protocol not in protocols:
            return False
        return port is None or (
            isinstance(self.from_port, int) and isinstance(self.to_port, int) and self.from_port <= port <= self.to_port
        )


TCP, UDP, ESP = ("tcp", "6"), ("udp", "17"), ("50", "esp")


def _group_rules(group: ec2.CfnSecurityGroup, direction: str) -> list[_Traffic]:
    """The `direction` ("ingress"/"egress") rules of a security group: inline and separate resources."""
    stack = Stack.of(group)
    me = {"Fn::GetAtt": [stack.get_logical_id(group), "GroupId"]}
    peer_key = "SourceSecurityGroupId" if direction == "ingress" else "DestinationSecurityGroupId"
    inline = _resolve(group, group.security_group_ingress if direction == "ingress" else group.security_group_egress)
    rules = [
        _Traffic(
            str(_get(r, "IpProtocol")),
            _get(r, "FromPort"),
            _get(r, "ToPort"),
            _get(r, "CidrIp"),
            _get(r, "SourcePrefixListId" if direction == "ingress" else "DestinationPrefixListId"),
            _get(r, peer_key),
        )
        for r in inline or []
    ]
    kind = ec2.CfnSecurityGroupIngress if direction == "ingress" else ec2.CfnSecurityGroupEgress
    for r in stack.node.find_all():
        if isinstance(r, kind) and stack.resolve(r.group_id) == me:
            prefix = r.source_prefix_list_id if direction == "ingress" else r.destination_prefix_list_id
            peer = r.source_security_group_id if direction == "ingress" else r.destination_security_group_id
            rules.append(
                _Traffic(
                    str(stack.resolve(r.ip_protocol)),
                    stack.resolve(r.from_port),
                    stack.resolve(r.to_port),
                    stack.resolve(r.cidr_ip),
                    stack.resolve(prefix),
                    stack.resolve(peer),
                )
            )
    return rules


def _groups(node: CfnResource, references: Any) -> list[ec2.CfnSecurityGroup]:
    """The security groups of this stack that `references` (resolved group IDs) name; groups defined
    elsewhere (an imported ID) cannot be inspected and are left out."""
    stack = Stack.of(node)
    ids = {_logical_id_of(r) for r in references or []}
    return [g for g in stack.node.find_all() if isinstance(g, ec2.CfnSecurityGroup) and stack.get_logical_id(g) in ids]


def _vpc_groups(node: CfnResource) -> list[list[Any]]:
    """Security group references of every VPC-attached SageMaker workload or Lambda in `node`."""
    if isinstance(node, sagemaker.CfnModel):
        return [_get(_resolve(node, node.vpc_config), "SecurityGroupIds") or []]
    if isinstance(node, lambda_.CfnFunction):
        vpc = _resolve(node, node.vpc_config)
        return [_get(vpc, "SecurityGroupIds") or []] if _get(vpc, "SubnetIds") else []
    return [
        (p.get("VpcConfig") or {}).get("SecurityGroupIds") or [] for p in _training_jobs(node) if p.get("VpcConfig")
    ]


def s3_egress_from_vpc(node: CfnResource) -> NagRuleCompliance:
    """A VPC-attached SageMaker training job or model (or a Lambda function) may send HTTPS to S3's
    addresses. With a VpcConfig, SageMaker moves channel data, model artifacts, output, checkpoints and
    captured requests through the VPC; a gateway endpoint only routes to S3's public ranges, so the
    security group must allow 443 out to the S3 managed prefix list (or everywhere). An egress limited
    to the VPC CIDR makes the job fail to download its data and the endpoint its model.
    Sources: https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html ("Security
    groups": outbound rules must allow traffic to the prefix list ID of the S3 service),
    https://docs.aws.amazon.com/sagemaker/latest/dg/train-vpc.html and
    https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html (an S3 VPC endpoint for the data)."""
    references = _vpc_groups(node)
    if not references:
        return NOT_APPLICABLE
    for refs in references:
        for group in _groups(node, refs):
            if not any(
                r.allows(TCP, 443) and (r.prefix_list or r.cidr == "0.0.0.0/0") for r in _group_rules(group, "egress")
            ):
                return NON_COMPLIANT
    return COMPLIANT


def volume_kms_on_instance_storage(node: CfnResource) -> NagRuleCompliance:
    """No KMS key for the storage volume of an instance type with local (NVMe) storage: SageMaker
    rejects CreateTrainingJob with `ResourceConfig.VolumeKmsKeyId` and CreateEndpointConfig with
    `KmsKeyId` for such types (the local storage is encrypted by the instance's hardware module).
    Sources: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html
    (VolumeKmsKeyId) and https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html
    (KmsKeyId). The families are the table in infra/instance_storage.py."""
    if isinstance(node, sagemaker.CfnEndpointConfig):
        if _resolve(node, node.kms_key_id) and any(has_instance_storage(t) for t in _variant_types(node)):
            return NON_COMPLIANT
        return COMPLIANT
    jobs = _training_jobs(node)
    if not jobs:
        return NOT_APPLICABLE
    for p in jobs:
        resources = p.get("ResourceConfig") or {}
        if resources.get("VolumeKmsKeyId") and has_instance_storage(resources.get("InstanceType")):
            return NON_COMPLIANT
    return COMPLIANT


def inter_host_encrypted_traffic(node: CfnResource) -> NagRuleCompliance:
    """A training job on several instances with inter-container traffic encryption has security groups
    that allow, between their own members, in and out: TCP (the framework's own traffic), UDP 500 (IKE)
    and IP protocol 50 (ESP), which the IPsec tunnels between the hosts use. Without them the hosts
    cannot reach each other and the job fails.
    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/train-encrypt.html (inbound and outbound
    rules: UDP 500 and ESP 50 from the security group itself)."""
    jobs = _training_jobs(node)
    if not jobs:
        return NOT_APPLICABLE
    for p in jobs:
        count = (p.get("ResourceConfig") or {}).get("InstanceCount", 1)
        if p.get("EnableInterContainerTrafficEncryption") is not True or count == 1:
            continue
        for group in _groups(node, (p.get("VpcConfig") or {}).get("SecurityGroupIds")):
            me = {"Fn::GetAtt": [Stack.of(group).get_logical_id(group), "GroupId"]}
            for direction in ("ingress", "egress"):
                own = [r for r in _group_rules(group, direction) if r.peer_group == me]
                if not all(
                    any(r.allows(protocols, port) for r in own)
                    for protocols, port in ((TCP, None), (UDP, 500), (ESP, None))
                ):
                    return NON_COMPLIANT
    return COMPLIANT


def _suspended(node: CfnResource) -> bool:
    """An endpoint whose variant is deregistered from Application Auto Scaling on purpose
    (`serving.<model>.autoscaling_suspended`, the first step of an instance-type change)."""
    return any(entry.type == SUSPENDED_METADATA for entry in node.node.metadata)


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = _get(document, "Statement") if isinstance(document, dict) else None
    return [s for s in (statements if isinstance(statements, list) else [statements] if statements else [])]


def _services(statement: dict[str, Any]) -> list[Any]:
    principal = _get(statement, "Principal")
    services = principal.get("Service") if isinstance(principal, dict) else None
    return services if isinstance(services, list) else [services] if services is not None else []


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def regional_logs_principal(node: CfnResource) -> NagRuleCompliance:
    """A KMS key policy names CloudWatch Logs by its regional principal, `logs.<region>.amazonaws.com`,
    in the key's own region. With the global `logs.amazonaws.com`, CloudWatch Logs cannot use the key and
    every log group encrypted with it fails at create.
    Source: "Encrypt log data in CloudWatch Logs using AWS Key Management Service",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html (the key policy's
    principal `logs.REGION.amazonaws.com`: "This service principal must be in the same region as where the
    CMK is stored")."""
    if not isinstance(node, kms.CfnKey):
        return NOT_APPLICABLE
    region = Stack.of(node).resolve(Stack.of(node).region)
    for statement in _statements(_resolve(node, node.key_policy)):
        for service in _services(statement):
            if not isinstance(service, str) or not service.startswith("logs."):
                continue
            if service == "logs.amazonaws.com":
                return NON_COMPLIANT
            match = re.fullmatch(r"logs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?", service)
            if match and isinstance(region, str) and match.group(1) != region:
                return NON_COMPLIANT
    return COMPLIANT


def alarm_topic_publish(node: CfnResource) -> NagRuleCompliance:
    """An SNS topic policy on a topic that CloudWatch alarms of its stack notify Allows
    `cloudwatch.amazonaws.com` to `sns:Publish`, conditioned on `aws:SourceAccount` and `aws:SourceArn`.
    A topic policy replaces the topic's default policy, so one holding only a TLS Deny (what
    `enforce_ssl` writes) leaves the alarms no Allow: the alarm action fails ("... is not authorized to
    perform: SNS:Publish") and no notification arrives.
    Sources: AWS Knowledge Center, "Why didn't I receive an SNS notification for my CloudWatch alarm
    trigger?" https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger, and "Example
    cases for Amazon SNS access control" https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html."""
    if not isinstance(node, sns.CfnTopicPolicy):
        return NOT_APPLICABLE
    stack = Stack.of(node)
    topics = [json.dumps(t, sort_keys=True) for t in _as_list(_resolve(node, node.topics))]
    notified = False
    for alarm in stack.node.find_all():
        if not isinstance(alarm, cloudwatch.CfnAlarm):
            continue
        actions = [alarm.alarm_actions, alarm.ok_actions, alarm.insufficient_data_actions]
        targets = [json.dumps(a, sort_keys=True) for group in actions for a in _as_list(stack.resolve(group))]
        notified = notified or any(t in topics for t in targets)
    if not notified:
        return NOT_APPLICABLE
    for statement in _statements(_resolve(node, node.policy_document)):
        actions = [a.lower() for a in _as_list(_get(statement, "Action")) if isinstance(a, str)]
        conditions = _get(statement, "Condition") or {}
        keys = {k.lower() for operator in conditions.values() if isinstance(operator, dict) for k in operator}
        if (
            _get(statement, "Effect") == "Allow"
            and "cloudwatch.amazonaws.com" in _services(statement)
            and any(fnmatch.fnmatchcase("sns:publish", a) for a in actions)
            and {"aws:sourceaccount", "aws:sourcearn"} <= keys
        ):
            return COMPLIANT
    return NON_COMPLIANT


def retain_scaled_capacity(node: CfnResource) -> NagRuleCompliance:
    """An endpoint whose variant is registered with Application Auto Scaling (or deregistered for an
    instance-type change) sets `RetainAllVariantProperties: true`, so an update keeps the instance count
    autoscaling reached instead of resetting it to the config's initial count.
    Source: "Update endpoints that use auto scaling",
    https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html (set
    RetainAllVariantProperties to True to keep the instance count or weight), and
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html."""
    if not isinstance(node, sagemaker.CfnEndpoint):
        return NOT_APPLICABLE
    stack = Stack.of(node)
    name = stack.resolve(node.endpoint_name)
    registered = isinstance(name, str) and any(
        isinstance(t, appscaling.CfnScalableTarget)
        and str(stack.resolve(t.resource_id)).startswith(f"endpoint/{name}/variant/")
        for t in stack.node.find_all()
    )
    if not registered and not _suspended(node):
        return NOT_APPLICABLE
    return COMPLIANT if _resolve(node, node.retain_all_variant_properties) is True else NON_COMPLIANT


def lambda_reserved_concurrency(node: CfnResource) -> NagRuleCompliance:
    """A Lambda function reserves concurrency only where the project opted in (infra.components.evaluation.
    reserve_concurrency, which the settings key `evaluation_reserved_concurrency` drives). Lambda refuses a
    reservation that leaves the account less than 100 unreserved executions, and new accounts often have a
    concurrency quota of 10 or 50, so an unconditional reservation fails the deploy there.
    Source: "Configuring reserved concurrency for a function",
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html ("You can reserve up to the
    Unreserved account concurrency value minus 100")."""
    if not isinstance(node, lambda_.CfnFunction):
        return NOT_APPLICABLE
    if _resolve(node, node.reserved_concurrent_executions) is None:
        return COMPLIANT
    opted_in = any(entry.type == RESERVED_CONCURRENCY_OPT_IN for entry in node.node.metadata)
    return COMPLIANT if opted_in else NON_COMPLIANT


# "IAM policies for Amazon SageMaker" (Step Functions guide), CreateTrainingJob and CreateProcessingJob,
# Run a Job (.sync): https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html. Each job's
# policy is its own create, describe and stop, and the same five others.
def _sync_job_actions(job: str) -> tuple[str, ...]:
    return (
        f"sagemaker:Create{job}",
        f"sagemaker:Describe{job}",
        f"sagemaker:Stop{job}",
        "sagemaker:ListTags",
        "iam:PassRole",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    )


SYNC_TRAINING_ACTIONS = _sync_job_actions("TrainingJob")
SYNC_PROCESSING_ACTIONS = _sync_job_actions("ProcessingJob")


def _sync_job_permissions(
    node: CfnResource,
    jobs: Callable[[CfnResource], list[dict[str, Any]]],
    integration: str,
    actions: tuple[str, ...],
) -> NagRuleCompliance:
    """A state machine with a state whose resource is `integration` (the `.sync` pattern of the job that
    `jobs` finds) has a role holding every action of `actions`."""
    if not jobs(node) or not any(integration in str(s.get("Resource", "")) for s in _states(_definition(node))):
        return NOT_APPLICABLE
    role = _role(node, _resolve(node, node.role_arn))
    if role is None:
        return NOT_APPLICABLE
    return COMPLIANT if _role_allows(role, actions) else NON_COMPLIANT


def sync_training_permissions(node: CfnResource) -> NagRuleCompliance:
    """A state machine that runs `createTrainingJob.sync` has a role holding every action of the policy
    AWS publishes for that integration; without, for example, `sagemaker:ListTags` or the events rule
    actions, the task fails at run time although the job could be created.
    Source: "IAM policies for Amazon SageMaker", https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html."""
    return _sync_job_permissions(node, _training_jobs, "createTrainingJob.sync", SYNC_TRAINING_ACTIONS)


def sync_processing_permissions(node: CfnResource) -> NagRuleCompliance:
    """A state machine that runs `createProcessingJob.sync` has a role holding every action of the policy
    AWS publishes for it ("IAM policies for Amazon SageMaker",
    https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html)."""
    return _sync_job_permissions(node, _processing_jobs, "createProcessingJob.sync", SYNC_PROCESSING_ACTIONS)


# "Give SageMaker hosted endpoints access to resources in your Amazon VPC", "Add Permissions for Endpoint
# Access for Containers Running in a VPC to Custom IAM Policies": https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html
HOST_VPC_ACTIONS = (
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:CreateNetworkInterface",
)


def model_vpc_permissions(node: CfnResource) -> NagRuleCompliance:
    """A SageMaker model in a VPC has an execution role (in its stack) holding every EC2 action AWS lists
    for models configured for VPC access.
    Source: "Give SageMaker Hosted Endpoints Access to Resources in Your Amazon VPC",
    https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html."""
    if not isinstance(node, sagemaker.CfnModel) or not _get(_resolve(node, node.vpc_config), "Subnets"):
        return NOT_APPLICABLE
    role = _role(node, _resolve(node, node.execution_role_arn))
    if role is None:
        return NOT_APPLICABLE
    return COMPLIANT if _role_allows(role, HOST_VPC_ACTIONS) else NON_COMPLIANT


# "IAM role for publishing flow logs to CloudWatch Logs": https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
FLOW_LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
)


def flow_log_role_permissions(node: CfnResource) -> NagRuleCompliance:
    """A VPC flow log to CloudWatch Logs has a role (in its stack) holding at least the actions AWS lists
    for publishing flow logs; the CDK's default role holds three of the five.
    Source: "IAM role for publishing flow logs to CloudWatch Logs",
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html."""
    if not isinstance(node, ec2.CfnFlowLog) or _resolve(node, node.log_destination_type) not in (
        None,
        "cloud-watch-logs",
    ):
        return NOT_APPLICABLE
    role = _role(node, _resolve(node, node.deliver_logs_permission_arn))
    if role is None:
        return NOT_APPLICABLE
    return COMPLIANT if _role_allows(role, FLOW_LOG_ACTIONS) else NON_COMPLIANT


RULES: dict[str, tuple[Callable[[CfnResource], NagRuleCompliance], str, str]] = {
    "EndpointConfigKms": (
        endpoint_config_kms,
        "The SageMaker endpoint config does not encrypt with a KMS key.",
        "Instance storage and captured data of an endpoint must use the project CMK.",
    ),
    "ModelNetworkIsolation": (
        model_network_isolation,
        "The SageMaker model is not network-isolated in the VPC.",
        "Models run with EnableNetworkIsolation and a VpcConfig.",
    ),
    "EndpointAutoscaling": (
        endpoint_autoscaling,
        "An endpoint variant has no target-tracking autoscaling.",
        "Every variant of every endpoint (or, on an endpoint of inference components, every "
        "component) needs a scalable target and a target-tracking policy.",
    ),
    "ScaleOutFromZero": (
        scale_out_from_zero,
        "A scalable target with minimum 0 has no alarm-driven step policy.",
        "A target that scales to zero needs a step scaling policy triggered by a CloudWatch "
        "alarm (NoCapacityInvocationFailures, HasBacklogWithoutCapacity) to scale out again.",
    ),
    "TrainingJobIsolated": (
        training_job_isolated,
        "A training job is not isolated in the VPC with encryption.",
        "Training jobs need VpcConfig, network isolation, inter-container encryption and "
        "KMS on output (and on the volume, for types without local storage).",
    ),
    "ProcessingJobIsolated": (
        processing_job_isolated,
        "A processing job is not isolated in the VPC with encryption.",
        "Processing jobs need NetworkConfig with a VpcConfig and network isolation, and KMS on "
        "the output (and on the volume, for types without local storage).",
    ),
    "SyncProcessingPermissions": (
        sync_processing_permissions,
        "A state machine runs createProcessingJob.sync without the published policy.",
        "The .sync processing integration needs Create/Describe/StopProcessingJob, sagemaker:ListTags, "
        "iam:PassRole and the events rule actions (Step Functions' IAM policies for SageMaker).",
    ),
    "LambdaVpcEniPermissions": (
        lambda_vpc_eni_permissions,
        "A Lambda function in a VPC has a role without the ENI permissions.",
        "Lambda refuses to create a VPC function whose role cannot create, describe and "
        "delete network interfaces: attach AWSLambdaVPCAccessExecutionRole or grant them.",
    ),
    "S3EgressFromVpc": (
        s3_egress_from_vpc,
        "A VPC workload's security group does not allow HTTPS to S3.",
        "SageMaker jobs and models in a VPC reach S3 through the gateway endpoint on S3's public "
        "addresses: allow TCP 443 out to the S3 managed prefix list.",
    ),
    "VolumeKmsOnInstanceStorage": (
        volume_kms_on_instance_storage,
        "A KMS key is set for the volume of an instance type with local storage.",
        "SageMaker rejects VolumeKmsKeyId/KmsKeyId for instance types with NVMe "
        "instance storage (hardware-encrypted): omit it for those families.",
    ),
    "InterHostEncryptedTraffic": (
        inter_host_encrypted_traffic,
        "A multi-instance encrypted training job's hosts cannot reach each other.",
        "Inter-container traffic encryption needs TCP, UDP 500 and IP protocol 50 (ESP) "
        "between the hosts' security group members, in and out.",
    ),
    "RegionalLogsPrincipal": (
        regional_logs_principal,
        "A KMS key policy names CloudWatch Logs as logs.amazonaws.com (or another region's principal).",
        "CloudWatch Logs uses a key through logs.<region>.amazonaws.com in the key's region; with the "
        "global principal every log group encrypted with the key fails at create.",
    ),
    "AlarmTopicPublish": (
        alarm_topic_publish,
        "A topic policy on an alarm topic does not let CloudWatch alarms publish.",
        "A topic policy replaces the default one: Allow cloudwatch.amazonaws.com sns:Publish, "
        "conditioned on aws:SourceAccount and aws:SourceArn, or alarm notifications never arrive.",
    ),
    "RetainScaledCapacity": (
        retain_scaled_capacity,
        "An autoscaled endpoint does not set RetainAllVariantProperties.",
        "Without it every update resets the instance count to the config's initial count, whatever "
        "autoscaling had reached: set RetainAllVariantProperties: true.",
    ),
    "LambdaReservedConcurrency": (
        lambda_reserved_concurrency,
        "A Lambda function reserves concurrency without opting in.",
        "Lambda refuses a reservation that leaves the account under 100 unreserved executions (new "
        "accounts often have 10 or 50): reserve only through an explicit opt-in.",
    ),
    "SyncTrainingPermissions": (
        sync_training_permissions,
        "A state machine running createTrainingJob.sync lacks an action of AWS's published policy.",
        "Grant what 'IAM policies for Amazon SageMaker' lists for Run a Job (.sync): Create/Describe/"
        "StopTrainingJob, ListTags, iam:PassRole and events Put/DescribeRule, PutTargets.",
    ),
    "FlowLogRolePermissions": (
        flow_log_role_permissions,
        "A VPC flow log's role lacks an action AWS lists for publishing to CloudWatch Logs.",
        "Grant logs:CreateLogGroup, CreateLogStream, PutLogEvents, DescribeLogGroups and "
        "DescribeLogStreams (flow-logs-iam-role.html).",
    ),
    "ModelVpcPermissions": (
        model_vpc_permissions,
        "A VPC model's execution role lacks an EC2 action that SageMaker hosting needs.",
        "Models in a VPC need the EC2 actions of host-vpc.html, ec2:DescribeVpcEndpoints included.",
    ),
}


@jsii.implements(IApplyRule)
class _Rule:
    """One rule applied to one resource, in the shape cdk-nag's `applyRule` reads."""

    def __init__(
        self,
        suffix: str,
        check: Callable[[CfnResource], NagRuleCompliance],
        info: str,
        explanation: str,
        node: CfnResource,
    ) -> None:
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
    from zero, training jobs in the VPC with encryption; and what would fail at deploy, at update or at
    run time although every other check passes: ENI permissions of VPC Lambdas, HTTPS to S3 from VPC
    workloads, no volume KMS key on instance types with local storage, IPsec between encrypted training
    hosts, the regional CloudWatch Logs principal in key policies, CloudWatch's publish Allow on alarm
    topics, kept capacity on autoscaled endpoints, reserved Lambda concurrency only by opt-in, the .sync
    training policy, the hosting VPC permissions and the flow-log role's. Each rule's docstring names the
    AWS documentation page it comes from; docs/deploy-readiness.md lists them by resource type."""

    def __init__(self, scope: IConstruct | None = None) -> None:
        super().__init__(scope)
        self._pack_name = "Project"

    @property
    @jsii.member(jsii_name="name")
    def name(self) -> str:
        return "Project"

    @jsii.member(jsii_name="checkResource")
    def _check_resource(self, node: CfnResource) -> None:
        """Each rule is checked here first, and only a finding goes to `applyRule`. cdk-nag's `applyRule`
        (3.0.2, lib/nag-pack.js) records a violation for NON_COMPLIANT, a list of findings or a check that
        raises, and nothing for COMPLIANT or NOT_APPLICABLE; each call costs a round of jsii callbacks (the
        rule object's properties and its check), and most (resource, rule) pairs are not applicable."""
        for suffix, (check, info, explanation) in RULES.items():
            try:
                found = check(node) not in (COMPLIANT, NOT_APPLICABLE)
            except Exception:
                found = True  # applyRule runs it again and records the error as cdk-nag does
            if found:
                self._apply_rule(_Rule(suffix, check, info, explanation, node))
