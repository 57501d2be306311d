"""The autoscaled endpoint: isolated model, KMS and data capture, blue/green with rollback, scaling."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import App
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Capture, Match, Template

from infra.application import build
from infra.components.endpoint import AutoscaledEndpoint
from infra.components.serving_parts import ServingInputs
from infra.images import image_asset
from infra.settings import DEFAULT_MAX_RPS_PER_INSTANCE, ModelVersion, ServingSettings

from .conftest import CNN_PACKAGE, MLP_MODEL_DATA, as_list, bare_stack, base_context, isolated_vpc, policy_statements

SETTINGS = ServingSettings(
    model="cnn",
    instance_type="ml.c5.xlarge",
    min_capacity=2,
    max_capacity=7,
    safety_factor=0.5,
    max_rps_per_instance=120.0,
    capacity_source="benchmark (2026-11-28)",
    scale_in_cooldown_s=600,
    scale_out_cooldown_s=45,
    canary_percent=10,
    canary_wait_s=300,
    termination_wait_s=120,
    latency_alarm_ms=100,
    error_alarm_count=3,
    data_capture_percent=20,
    version=ModelVersion(model_package_arn=CNN_PACKAGE),
)


def make_endpoint(stub_sources, settings=SETTINGS):
    stack = bare_stack()
    vpc = isolated_vpc(stack)
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Artifacts", encryption_key=key)
    AutoscaledEndpoint(
        stack,
        "Endpoint",
        endpoint_name="proj-dev-cnn",
        settings=settings,
        inputs=ServingInputs(
            image=image_asset(stack, "Image", stub_sources.inference_dir),
            model_data_bucket=bucket,
            model_data_prefix="training/cnn",
            key=key,
            vpc=vpc,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            s3_prefix_list_id="pl-s3",
            log_retention_days=30,
            retain=False,
        ),
        capture_bucket=bucket,
        capture_prefix="data-capture/cnn",
    )
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def template(stub_sources) -> Template:
    return make_endpoint(stub_sources)


def test_model_is_network_isolated_in_the_vpc_and_serves_the_package(template):
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "EnableNetworkIsolation": True,
            "PrimaryContainer": {"ModelPackageName": CNN_PACKAGE},
            "VpcConfig": {"Subnets": Match.any_value(), "SecurityGroupIds": [Match.any_value()]},
        },
    )


def test_model_data_url_serves_the_inference_image(stub_sources):
    version = ModelVersion(model_data_url=MLP_MODEL_DATA)
    make_endpoint(stub_sources, dataclasses.replace(SETTINGS, version=version)).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "ModelDataUrl": MLP_MODEL_DATA,
                "Image": {"Fn::Sub": Match.string_like_regexp(r"\.dkr\.ecr\.")},
            }
        },
    )


def test_a_model_version_is_required(stub_sources):
    with pytest.raises(ValueError, match="a model package ARN or a model data URL is required"):
        make_endpoint(stub_sources, dataclasses.replace(SETTINGS, version=ModelVersion()))


def test_endpoint_config_encrypts_and_captures_data_with_the_key(template):
    key = Capture()
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": key,
            "ProductionVariants": [
                Match.object_like(
                    {"VariantName": "AllTraffic", "InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 2}
                )
            ],
            "DataCaptureConfig": Match.object_like(
                {
                    "EnableCapture": True,
                    "InitialSamplingPercentage": 20,
                    "KmsKeyId": Match.any_value(),
                    "DestinationS3Uri": {
                        "Fn::Join": [
                            "",
                            ["s3://", {"Ref": Match.string_like_regexp("^Artifacts")}, "/data-capture/cnn"],
                        ]
                    },
                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                }
            ),
        },
    )
    assert key.as_object()["Fn::GetAtt"][0].startswith("Key")


def test_no_volume_key_for_hosting_types_with_instance_storage(stub_sources):
    config = next(
        iter(
            make_endpoint(stub_sources, dataclasses.replace(SETTINGS, instance_type="ml.g5.xlarge"))
            .find_resources("AWS::SageMaker::EndpointConfig")
            .values()
        )
    )["Properties"]
    assert "KmsKeyId" not in config and config["DataCaptureConfig"]["KmsKeyId"]


def test_endpoint_log_group_is_created_with_the_key_and_a_retention(template):
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": "/aws/sagemaker/Endpoints/proj-dev-cnn", "KmsKeyId": Match.any_value(), "RetentionInDays": 30},
    )
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    assert any(d.startswith("EndpointLogs") for d in endpoint["DependsOn"])


def test_model_containers_may_send_only_https_to_s3(template):
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "proj-dev-cnn model containers",
            "SecurityGroupEgress": [
                Match.object_like(
                    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "DestinationPrefixListId": "pl-s3"}
                )
            ],
        },
    )


def test_blue_green_canary_rolls_back_on_both_alarms(template):
    alarms = Capture()
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "EndpointName": "proj-dev-cnn",
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "WaitIntervalInSeconds": 300,
                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                    },
                    "TerminationWaitInSeconds": 120,
                },
                "AutoRollbackConfiguration": {"Alarms": alarms},
            },
        },
    )
    refs = {a["AlarmName"]["Ref"] for a in alarms.as_array()}
    alarm_resources = template.find_resources("AWS::CloudWatch::Alarm")
    assert refs == set(alarm_resources)
    metrics = {r["Properties"]["MetricName"]: r["Properties"] for r in alarm_resources.values()}
    assert metrics["Invocation5XXErrors"]["Threshold"] == 3
    assert metrics["ModelLatency"]["Threshold"] == 100_000  # microseconds
    assert metrics["ModelLatency"]["ExtendedStatistic"] == "p99"
    for alarm in alarm_resources.values():
        assert alarm["Properties"]["Dimensions"] == [
            {"Name": "EndpointName", "Value": "proj-dev-cnn"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ]
        assert alarm["Properties"]["AlarmActions"] and alarm["Properties"]["OKActions"]


def test_target_tracking_on_invocations_per_instance_from_settings(template):
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ResourceId": "endpoint/proj-dev-cnn/variant/AllTraffic",
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 2,
            "MaxCapacity": 7,
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 120.0 * 0.5 * 60,
                "ScaleInCooldown": 600,
                "ScaleOutCooldown": 45,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            },
        },
    )
    template.has_resource(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"DependsOn": [Match.string_like_regexp("^Endpoint")]}
    )


def test_dashboard_and_alarm_topic(template):
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_model_role_is_scoped_to_the_models_prefixes(template):
    statements = [s for _, s in policy_statements(template.to_json())]
    reads = [str(s["Resource"]) for s in statements if "s3:GetObject" in as_list(s["Action"])]
    writes = [str(s["Resource"]) for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert any("/training/cnn/*" in r for r in reads)
    assert writes and all("/data-capture/cnn/*" in r and "/training/" not in r for r in writes)


def test_serving_stacks_per_model_in_the_app(synthesized):
    assert {
        "elasticml-dev-serving-cnn",
        "elasticml-dev-serving-mlp",
        "elasticml-prod-serving-cnn",
        "elasticml-prod-serving-mlp",
    } <= set(synthesized.stacks)
    prod = synthesized.template("elasticml-prod-serving-cnn")
    prod.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 8})
    prod.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {"TargetValue": 120.0 * 0.5 * 60, "ScaleInCooldown": 600, "ScaleOutCooldown": 60}
            )
        },
    )
    synthesized.template("elasticml-prod-serving-mlp").has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {"TargetValue": DEFAULT_MAX_RPS_PER_INSTANCE * 0.5 * 60}
            )
        },
    )


def test_without_a_model_version_serving_is_skipped_with_instructions(stub_sources):
    app = App(context={**base_context(), "env": "dev"})
    stacks = build(app, stub_sources)
    assert sorted(stacks) == [
        "elasticml-dev-ci-access",
        "elasticml-dev-network",
        "elasticml-dev-storage",
        "elasticml-dev-training",
    ]
    messages = [entry.data for entry in stacks["elasticml-dev-training"].node.metadata if entry.type == "aws:cdk:info"]
    assert any(
        "elasticml-dev-serving-cnn not synthesized" in m
        and "-c cnn_model_package_arn=" in m
        and "-c cnn_model_data_url=s3://elasticml-dev-artifacts-111111111111-eu-west-1/training/cnn/" in m
        for m in messages
    )


def test_an_update_keeps_the_instance_count_autoscaling_reached(template):
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint", {"EndpointName": "proj-dev-cnn", "RetainAllVariantProperties": True}
    )


def test_alarms_may_publish_to_their_topic(template):
    (policy,) = template.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allow = next(s for s in statements if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert "aws:SourceAccount" in allow["Condition"]["StringEquals"]
    assert ":alarm:*" in str(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert any(s["Effect"] == "Deny" for s in statements)  # TLS only, still


def test_model_role_may_describe_the_vpc_endpoints(template):
    statements = [s for _, s in policy_statements(template.to_json())]
    assert any("ec2:DescribeVpcEndpoints" in as_list(s["Action"]) for s in statements)


def test_suspended_autoscaling_deregisters_the_variant_and_keeps_the_count(stub_sources):
    suspended = make_endpoint(stub_sources, dataclasses.replace(SETTINGS, autoscaling_suspended=True))
    suspended.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    suspended.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 0)
    suspended.has_resource_properties("AWS::SageMaker::Endpoint", {"RetainAllVariantProperties": True})
    suspended.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"ProductionVariants": [Match.object_like({"InstanceType": "ml.c5.xlarge"})]},
    )
