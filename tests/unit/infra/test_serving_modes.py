"""Serving modes: settings, the scale-to-zero and async endpoints as synthesized, and the rules that guard them."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_sagemaker as sagemaker

from infra.application import REPO_ROOT, build
from infra.rules import ProjectChecks
from infra.serving_modes import (
    INFERENCE_COMPONENT_REGIONS,
    AsyncSettings,
    ScaleToZeroSettings,
    check_region,
)
from infra.settings import SettingsError, load_settings

from .conftest import (
    CNN_PACKAGE,
    MLP_MODEL_DATA,
    as_list,
    bare_stack,
    base_context,
    endpoint_config,
    policy_statements,
    resources,
)

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture
def context():
    return copy.deepcopy(base_context())


def serving(context, env="dev", model="cnn"):
    return context["environments"][env]["serving"][model]


# --- settings ---------------------------------------------------------------------------------------------


def test_defaults_dev_scales_to_zero_and_prod_is_realtime(context):
    dev, prod = load_settings(context, "dev"), load_settings(context, "prod")
    assert [(s.mode, s.min_capacity) for s in dev.serving] == [("scale-to-zero", 0)] * 2
    assert [s.mode for s in prod.serving] == ["realtime"] * 2
    assert dev.serving[0].mode_options == ScaleToZeroSettings()


def test_mode_absent_means_realtime(context):
    del serving(context, "prod")["mode"]
    assert load_settings(context, "prod").serving[0].mode == "realtime"


def test_unknown_mode_names_key_and_allowed_values(context):
    serving(context)["mode"] = "serverless"
    with pytest.raises(
        SettingsError,
        match=r"environments\.dev\.serving\.cnn\.mode: 'serverless' is not allowed; "
        r"allowed: realtime, scale-to-zero, async",
    ):
        load_settings(context, "dev")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"min_capacity": 1}, r"serving\.cnn\.min_capacity: 1 with mode 'scale-to-zero'; allowed: 0"),
        ({"data_capture_percent": 10}, r"serving\.cnn\.data_capture_percent: 10 with mode 'scale-to-zero'; allowed: 0"),
        (
            {"instance_type": "ml.t2.medium"},
            r"serving\.cnn\.instance_type: 'ml\.t2\.medium' cannot serve mode "
            r"'scale-to-zero': Application Auto Scaling does not scale burstable",
        ),
        ({"async": {}}, r"serving\.cnn\.async: only allowed with mode 'async'"),
        (
            {"scale_to_zero": {"copy_cpu_cores": 8}},
            r"scale_to_zero\.copy_cpu_cores: 8 is outside the allowed range \[0\.25, 4\]",
        ),
        (
            {"scale_to_zero": {"cores": 1}},
            r"scale_to_zero: unknown key\(s\) cores; allowed: copy_cpu_cores, copy_memory_mb",
        ),
        (
            {"mode": "async", "async": {"max_payload_mb": 2048}},
            r"async\.max_payload_mb: 2048 is outside the allowed range",
        ),
        ({"mode": "realtime"}, r"serving\.cnn\.min_capacity: 0 is below the minimum 1"),
    ],
)
def test_invalid_mode_settings_name_the_key(context, change, message):
    serving(context).update(change)
    with pytest.raises(SettingsError, match=message):
        load_settings(context, "dev")


def test_async_options_are_read(context):
    serving(context).update(mode="async", **{"async": {"max_payload_mb": 50, "backlog_per_instance_target": 2}})
    options = load_settings(context, "dev").serving[0].mode_options
    assert options == AsyncSettings(
        max_payload_mb=50, max_concurrent_invocations_per_instance=4, backlog_per_instance_target=2.0
    )


def test_region_without_inference_components_stops_scale_to_zero_only():
    with pytest.raises(
        SettingsError,
        match=r"ep: mode 'scale-to-zero' needs SageMaker inference components, "
        r"which CloudFormation does not offer in eu-west-3",
    ):
        check_region("scale-to-zero", "eu-west-3", "ep")
    check_region("async", "eu-west-3", "ep")
    check_region("scale-to-zero", "eu-west-1", "ep")
    check_region("scale-to-zero", None, "ep")  # environment-agnostic stack: the region is decided at deploy


def test_inference_component_regions_match_cfn_lints_region_schemas():
    import cfnlint

    providers = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    found = sorted(
        p.stem
        for p in providers.glob("*.json")
        if p.stem != "sam" and "AWS::SageMaker::InferenceComponent" in json.loads(p.read_text())
    )
    assert found == sorted(INFERENCE_COMPONENT_REGIONS)


def test_a_stack_in_an_unsupported_region_stops_synth(stub_sources):
    from infra.components.inference_component import ScaleToZeroEndpoint

    settings = load_settings({**base_context(), "dev:cnn_model_package_arn": CNN_PACKAGE}, "dev").serving[0]
    stack = Stack(App(), "Paris", env=Environment(account="123456789012", region="eu-west-3"))
    with pytest.raises(SettingsError, match="does not offer in eu-west-3"):
        ScaleToZeroEndpoint(
            stack,
            "Endpoint",
            endpoint_name="x",
            settings=settings,
            inputs=None,  # type: ignore[arg-type]  # the region check comes first
        )


# --- scale-to-zero, as synthesized in the dev environment -------------------------------------------------


@pytest.fixture(scope="module")
def zero(synthesized):
    return synthesized.json("elasticml-dev-serving-cnn")


def one(template, kind):
    found = list(resources(template, kind).items())
    assert len(found) == 1, [k for k, _ in found]
    return found[0]


def test_endpoint_config_has_managed_instance_scaling_from_zero_and_no_model(zero):
    _, config = one(zero, "AWS::SageMaker::EndpointConfig")
    props = config["Properties"]
    (variant,) = props["ProductionVariants"]
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 2}
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    assert "ModelName" not in variant and variant["InitialInstanceCount"] == 1
    assert props["KmsKeyId"] and props["ExecutionRoleArn"]["Fn::GetAtt"][0].startswith("EndpointModelRole")
    assert "DataCaptureConfig" not in props
    assert props["EnableNetworkIsolation"] is True
    assert props["VpcConfig"]["SecurityGroupIds"][0]["Fn::GetAtt"][0].startswith("EndpointSecurityGroup")
    assert len(props["VpcConfig"]["Subnets"]) == 2


def test_inference_component_serves_the_model_with_rolling_updates(zero):
    _, component = one(zero, "AWS::SageMaker::InferenceComponent")
    props = component["Properties"]
    assert props["InferenceComponentName"] == "elasticml-dev-cnn-component"
    assert props["RuntimeConfig"] == {"CopyCount": 1}
    spec = props["Specification"]
    assert spec["ModelName"]["Fn::GetAtt"][0].startswith("EndpointModel")
    assert spec["ComputeResourceRequirements"] == {"NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024}
    rolling = props["DeploymentConfig"]["RollingUpdatePolicy"]
    assert rolling["MaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 20}  # dev canary_percent
    assert rolling["WaitIntervalInSeconds"] == 300
    alarms = {a["AlarmName"]["Ref"] for a in props["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]}
    metrics = {resources(zero, "AWS::CloudWatch::Alarm")[a]["Properties"]["MetricName"] for a in alarms}
    assert metrics == {"Invocation5XXErrors", "ModelLatency"}


def test_inference_component_caches_the_artifact_and_image_on_its_instances(zero):
    """Specification.DataCacheConfig: a copy placed on an instance the endpoint already has starts from
    the cached model artifact and image (infra/components/inference_component.py)."""
    _, component = one(zero, "AWS::SageMaker::InferenceComponent")
    assert component["Properties"]["Specification"]["DataCacheConfig"] == {"EnableCaching": True}


def test_copy_count_scales_from_zero_on_invocations_per_copy(zero):
    target_id, target = one(zero, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["Properties"] | {"RoleARN": None, "Tags": None} == {
        "ResourceId": "inference-component/elasticml-dev-cnn-component",
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
        "MinCapacity": 0,
        "MaxCapacity": 2,
        "RoleARN": None,
        "Tags": None,
    }
    policies = {
        p["Properties"]["PolicyType"]: p["Properties"]
        for p in resources(zero, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
    }
    # the measured 120 RPS per ml.c5.xlarge x 0.5 x 60, for the 1 of 4 vCPUs a copy reserves
    assert tracking["TargetValue"] == 120.0 * 0.5 * 60 / 4
    step = policies["StepScaling"]["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ChangeInCapacity"
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]


def test_one_failed_call_at_zero_triggers_the_step_policy(zero):
    step_id = next(
        k
        for k, v in resources(zero, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if v["Properties"]["PolicyType"] == "StepScaling"
    )
    wake = [
        a["Properties"]
        for a in resources(zero, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "NoCapacityInvocationFailures"
    ]
    assert len(wake) == 1
    alarm = wake[0]
    assert alarm["Dimensions"] == [{"Name": "InferenceComponentName", "Value": "elasticml-dev-cnn-component"}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )  # a Sum of 1 (one failed call) is enough
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 1
    assert alarm["AlarmActions"] == [{"Ref": step_id}]


def test_prod_stays_realtime(synthesized):
    prod = synthesized.json("elasticml-prod-serving-cnn")
    assert not resources(prod, "AWS::SageMaker::InferenceComponent")
    (target,) = resources(prod, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert target["Properties"]["MinCapacity"] == 2


# --- async, synthesized with the checks (a cdk-nag finding fails synth) ----------------------------------


@pytest.fixture(scope="module")
def async_out(tmp_path_factory, stub_sources) -> Path:
    context = base_context()
    for model in ("cnn", "mlp"):
        serving(context, "dev", model)["mode"] = "async"
    serving(context, "dev", "mlp")["async"] = {"max_payload_mb": 200}
    outdir = tmp_path_factory.mktemp("async.out")
    app = App(
        outdir=str(outdir),
        context={**context, "env": "dev", "cnn_model_package_arn": CNN_PACKAGE, "mlp_model_data_url": MLP_MODEL_DATA},
    )
    build(app, stub_sources)
    app.synth()
    return outdir


@pytest.fixture(scope="module")
def asynced(async_out):
    return json.loads((async_out / "elasticml-dev-serving-cnn.template.json").read_text())


def test_async_config_writes_answers_and_failures_under_the_key_and_notifies(asynced):
    _, config = one(asynced, "AWS::SageMaker::EndpointConfig")
    output = config["Properties"]["AsyncInferenceConfig"]["OutputConfig"]
    join = lambda value: "".join(p if isinstance(p, str) else "${}" for p in value["Fn::Join"][1])  # noqa: E731
    assert join(output["S3OutputPath"]) == "s3://elasticml-dev-artifacts-${}-${}/async/cnn/output"
    assert join(output["S3FailurePath"]) == "s3://elasticml-dev-artifacts-${}-${}/async/cnn/failure"
    assert output["KmsKeyId"] == config["Properties"]["KmsKeyId"]
    topics = resources(asynced, "AWS::SNS::Topic")
    notify = output["NotificationConfig"]
    assert {notify["SuccessTopic"]["Ref"], notify["ErrorTopic"]["Ref"]} <= set(topics)
    assert all(t["Properties"]["KmsMasterKeyId"] for t in topics.values())
    assert config["Properties"]["AsyncInferenceConfig"]["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 4}


def test_async_model_accepts_large_bodies_and_its_role_reaches_only_its_prefix(asynced, async_out):
    _, model = one(asynced, "AWS::SageMaker::Model")
    assert model["Properties"]["PrimaryContainer"]["Environment"] == {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "100"}
    mlp = json.loads((async_out / "elasticml-dev-serving-mlp.template.json").read_text())
    _, mlp_model = one(mlp, "AWS::SageMaker::Model")
    assert mlp_model["Properties"]["PrimaryContainer"]["Environment"] == {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "200"}
    statements = [s for _, s in policy_statements(asynced)]
    writes = [str(s["Resource"]) for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert writes and all("/async/cnn/*" in w for w in writes)
    (publish,) = [s for s in statements if "sns:Publish" in as_list(s["Action"])]
    assert len(publish["Resource"]) == 2


def test_async_scales_on_backlog_from_zero(asynced):
    _, target = one(asynced, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["Properties"]["ResourceId"], target["Properties"]["MinCapacity"]) == (
        "endpoint/elasticml-dev-cnn/variant/AllTraffic",
        0,
    )
    policies = {
        p["Properties"]["PolicyType"]: (k, p["Properties"])
        for k, p in resources(asynced, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
    }
    tracking = policies["TargetTrackingScaling"][1]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Namespace": "AWS/SageMaker",
        "Statistic": "Average",
        "Dimensions": [{"Name": "EndpointName", "Value": "elasticml-dev-cnn"}],
    }
    assert tracking["TargetValue"] == 5
    step_id = policies["StepScaling"][0]
    (wake,) = [
        a["Properties"]
        for a in resources(asynced, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "HasBacklogWithoutCapacity"
    ]
    assert (wake["Threshold"], wake["ComparisonOperator"], wake["AlarmActions"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        [{"Ref": step_id}],
    )


def test_async_keeps_blue_green_with_rollback(asynced):
    _, endpoint = one(asynced, "AWS::SageMaker::Endpoint")
    config = endpoint["Properties"]["DeploymentConfig"]
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert len(config["AutoRollbackConfiguration"]["Alarms"]) == 2


@pytest.mark.slow
def test_async_templates_pass_cfn_lint_and_checkov(async_out):
    templates = sorted(str(p) for p in async_out.glob("elasticml-dev-serving-*.template.json"))
    assert len(templates) == 2
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    lint = subprocess.run(
        [str(cfn_lint), "--format", "parseable", *templates], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
    assert CHECKOV.exists(), "checkov is installed by `make test` (mk/infra.mk) into .venv-checkov"
    scan = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO_ROOT / ".checkov.yaml"), *sum((["--file", t] for t in templates), [])],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        cwd=REPO_ROOT,
    )
    assert scan.returncode == 0 and "Failed checks: 0" in scan.stdout, scan.stdout[-4000:]


# --- the project's rules ----------------------------------------------------------------------------------


def violations(scope) -> dict[str, list[str]]:
    report = ProjectChecks().validate_scope(scope)
    return {v.rule_name: [r.construct_path for r in v.violating_resources] for v in report.violations}


def zero_target(stack, *, with_step: bool, with_tracking: bool = True, name="ic"):
    target = appscaling.ScalableTarget(
        stack,
        "Target",
        service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
        resource_id=f"inference-component/{name}",
        scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
        min_capacity=0,
        max_capacity=2,
    )
    if with_tracking:
        target.scale_to_track_metric(
            "Track",
            target_value=10,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
        )
    if with_step:
        from aws_cdk import aws_cloudwatch as cloudwatch
        from aws_cdk import aws_cloudwatch_actions as actions

        step = appscaling.StepScalingAction(
            stack, "Step", scaling_target=target, adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY
        )
        step.add_adjustment(adjustment=1, lower_bound=0)
        alarm = cloudwatch.Alarm(
            stack,
            "Wake",
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="NoCapacityInvocationFailures"),
            threshold=1,
            evaluation_periods=1,
        )
        alarm.add_alarm_action(actions.ApplicationScalingAction(step))
    return target


def test_rule_scale_out_from_zero_needs_an_alarm_driven_step_policy():
    stack = bare_stack()
    zero_target(stack, with_step=False)
    assert "Project-ScaleOutFromZero" in violations(stack)
    stack = bare_stack("Woken")
    zero_target(stack, with_step=True)
    assert "Project-ScaleOutFromZero" not in violations(stack)


def ic_endpoint(stack: Stack, *, tracked: bool):
    config = sagemaker.CfnEndpointConfig(
        stack,
        "Config",
        kms_key_id="arn:aws:kms:eu-west-1:123456789012:key/k",
        execution_role_arn="arn:role",
        production_variants=[
            sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name="AllTraffic", instance_type="ml.c5.large", initial_instance_count=1
            )
        ],
    )
    endpoint = sagemaker.CfnEndpoint(
        stack, "Endpoint", endpoint_name="ep", endpoint_config_name=config.attr_endpoint_config_name
    )
    sagemaker.CfnInferenceComponent(
        stack,
        "Component",
        inference_component_name="ic",
        endpoint_name=endpoint.attr_endpoint_name,
        specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(model_name="m"),
    )
    zero_target(stack, with_step=True, with_tracking=tracked)


def test_rule_endpoint_autoscaling_follows_the_inference_components():
    stack = bare_stack()
    ic_endpoint(stack, tracked=True)
    assert "Project-EndpointAutoscaling" not in violations(stack)
    stack = bare_stack("Untracked")
    ic_endpoint(stack, tracked=False)
    assert violations(stack)["Project-EndpointAutoscaling"] == ["Untracked/Endpoint"]


def test_rule_endpoint_config_kms_covers_async_output():
    stack = bare_stack()
    endpoint_config(
        stack,
        kms_key_id="arn:aws:kms:eu-west-1:123456789012:key/k",
        async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
            output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(s3_output_path="s3://b/o")
        ),
    )
    assert violations(stack)["Project-EndpointConfigKms"] == ["Bare/Config"]
