"""The two alarms every serving mode rolls a deployment back on (5xx errors, p99 model latency), and
the encrypted topic they notify."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.settings import ServingSettings


def rollback_alarms(
    scope: Construct,
    *,
    name: str,
    settings: ServingSettings,
    metric: Callable[[str, str], cloudwatch.Metric],
    rolls_back: str = "a blue/green deployment",
) -> tuple[cloudwatch.Alarm, cloudwatch.Alarm]:
    """`Errors5xx` and `ModelLatencyP99` under `scope` for the endpoint (or inference component) `name`;
    `metric(name, statistic)` gives its metric, so each mode alarms on its own dimensions."""
    errors = cloudwatch.Alarm(
        scope,
        "Errors5xx",
        metric=metric("Invocation5XXErrors", "Sum"),
        threshold=settings.error_alarm_count,
        evaluation_periods=2,
        datapoints_to_alarm=2,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=f"{name}: 5xx errors; rolls back {rolls_back}",
    )
    latency = cloudwatch.Alarm(
        scope,
        "ModelLatencyP99",
        metric=metric("ModelLatency", "p99"),
        threshold=settings.latency_alarm_ms * 1000,  # ModelLatency is in microseconds
        evaluation_periods=3,
        datapoints_to_alarm=3,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=f"{name}: p99 model latency above {settings.latency_alarm_ms} ms",
    )
    return errors, latency


def notified_rollback_alarms(
    scope: Construct,
    *,
    name: str,
    settings: ServingSettings,
    metric: Callable[[str, str], cloudwatch.Metric],
    key: kms.IKey,
    topic_name: str,
    rolls_back: str = "a blue/green deployment",
) -> tuple[sns.Topic, cloudwatch.Alarm, cloudwatch.Alarm]:
    """`AlarmTopic` (KMS, TLS only) and the rollback alarms, each notifying it on alarm and on OK."""
    topic = sns.Topic(scope, "AlarmTopic", master_key=key, enforce_ssl=True, display_name=f"{topic_name} alarms")
    allow_alarms_to_publish(topic)
    errors, latency = rollback_alarms(scope, name=name, settings=settings, metric=metric, rolls_back=rolls_back)
    for alarm in (errors, latency):
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(topic))
    return topic, errors, latency


def allow_alarms_to_publish(topic: sns.Topic) -> None:
    """Let CloudWatch alarms of this account and region publish to `topic`. A topic policy replaces the
    topic's default policy, so the TLS-only statement `enforce_ssl` writes would otherwise leave the
    alarms no Allow: alarm actions fail and no notification arrives (Project-AlarmTopicPublish). The
    topic's KMS key lets `cloudwatch.amazonaws.com` use it already (infra/components/storage.py).
    Sources: AWS Knowledge Center, "Why didn't I receive an SNS notification for my CloudWatch alarm
    trigger?" https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger (the topic's
    access policy must Allow `cloudwatch.amazonaws.com` `sns:Publish`, restricted with `aws:SourceArn`
    of the alarms) and "Example cases for Amazon SNS access control"
    https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html (aws:SourceAccount)."""
    stack = Stack.of(topic)
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                },
            },
        )
    )
