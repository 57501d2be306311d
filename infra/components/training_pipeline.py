"""The state machine of one model: check channels -> train -> read evaluation.json -> quality gate -> register."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

import shared_names
from infra.components.common import acknowledge_inline_policies, depend_on_policy_only, encrypted_log_group
from infra.components.training_job import TrainingJobTask
from infra.nag import allow_wildcards

CONTENT_TYPES = {model: list(types) for model, types in shared_names.CONTENT_TYPES.items()}


class TrainingPipeline(Construct):
    """A model package group and the state machine that fills it with models that pass the gate."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: str,
        group_name: str,
        training_job: TrainingJobTask,
        evaluation_function: lambda_.IFunction,
        inference_image: ecr_assets.DockerImageAsset,
        quality_threshold: float,
        security_gate: dict[str, Any] | None = None,
        inference_instance_types: Sequence[str],
        timeout: Duration,
        key: kms.IKey,
        log_retention_days: int,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=group_name,
            model_package_group_description=f"Versions of the {model} model that passed the quality gate",
        )

        # A failed .sync job's Cause is its DescribeTrainingJob response, FailureReason included; but a
        # job stopped or failed before SageMaker wrote one has no FailureReason, and a Cause that is not
        # JSON would make StringToJson itself fail the execution with a runtime error. Both fall back
        # to the raw Cause.
        training_failed = sfn.Fail(self, "TrainingFailed", error="TrainingJobFailed", cause_path="$.job.FailureReason")
        failed_without_reason = sfn.Fail(
            self, "TrainingFailedWithoutReason", error="TrainingJobFailed", cause_path="$.error.Cause"
        )
        has_reason = (
            sfn.Choice(self, "HasFailureReason")
            .when(sfn.Condition.is_present("$.job.FailureReason"), training_failed)
            .otherwise(failed_without_reason)
        )
        parse_failure = sfn.Pass(self, "ReadFailureReason", parameters={"job.$": "States.StringToJson($.error.Cause)"})
        is_description = (
            sfn.Choice(self, "IsJobDescription")
            .when(sfn.Condition.string_matches("$.error.Cause", "{*"), parse_failure.next(has_reason))
            .otherwise(failed_without_reason)
        )
        could_not_start = sfn.Fail(
            self, "TrainingCouldNotStart", error="TrainingJobNotStarted", cause_path="$.error.Cause"
        )
        training_job.task.add_catch(is_description, errors=["States.TaskFailed"], result_path="$.error")
        training_job.task.add_catch(could_not_start, errors=["States.ALL"], result_path="$.error")

        evaluate = tasks.LambdaInvoke(
            self,
            "ReadEvaluation",
            lambda_function=evaluation_function,
            payload_response_only=True,
            payload=sfn.TaskInput.from_object(
                {
                    "model_artifacts": sfn.JsonPath.string_at("$.training.ModelArtifacts.S3ModelArtifacts"),
                    # The security thresholds travel to the reader, which judges evaluation.json["security"].
                    **({"security_gate": security_gate} if security_gate else {}),
                }
            ),
            result_path="$.evaluation",
        )
        evaluate.add_catch(
            sfn.Fail(self, "EvaluationFailed", error="EvaluationUnreadable", cause_path="$.error.Cause"),
            result_path="$.error",
        )

        register = tasks.CallAwsService(
            self,
            "RegisterModelPackage",
            service="sagemaker",
            action="createModelPackage",
            parameters={
                "ModelPackageGroupName": group_name,
                "ModelApprovalStatus": "PendingManualApproval",
                "ModelPackageDescription": sfn.JsonPath.format(
                    "Trained by {}; accuracy {} on {}",
                    sfn.JsonPath.string_at("$.training.TrainingJobName"),
                    sfn.JsonPath.string_at("$.evaluation.accuracy"),
                    sfn.JsonPath.string_at("$.evaluation.split"),
                ),
                "InferenceSpecification": {
                    "Containers": [
                        {
                            "Image": inference_image.image_uri,
                            "ModelDataUrl": sfn.JsonPath.string_at("$.training.ModelArtifacts.S3ModelArtifacts"),
                        }
                    ],
                    "SupportedContentTypes": CONTENT_TYPES[model],
                    "SupportedResponseMIMETypes": ["application/json"],
                    "SupportedRealtimeInferenceInstanceTypes": list(inference_instance_types),
                },
                "CustomerMetadataProperties": {
                    "training_job": sfn.JsonPath.string_at("$.training.TrainingJobName"),
                    "accuracy": sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.evaluation.accuracy")),
                    "evaluation_uri": sfn.JsonPath.string_at("$.evaluation.evaluation_uri"),
                },
            },
            iam_resources=[
                stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group_name),
                stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group_name}/*"),
            ],
            result_selector={"ModelPackageArn.$": "$.ModelPackageArn"},
            result_path="$.registration",
        )
        register.add_catch(
            sfn.Fail(self, "RegistrationFailed", error="ModelPackageNotCreated", cause_path="$.error.Cause"),
            result_path="$.error",
        )

        registered = register.next(sfn.Succeed(self, "Registered"))
        if security_gate:
            # The reader's verdict (evaluation_tarball.security_verdict); its reason names the figure and
            # the threshold, and becomes the execution's failure cause.
            registered = (
                sfn.Choice(
                    self,
                    "SecurityGate",
                    comment=f"{security_gate['attack']} accuracy at {security_gate['budget']} >= "
                    f"{security_gate['min_robust_accuracy']}, membership AUC <= {security_gate['max_membership_auc']}",
                )
                .when(sfn.Condition.boolean_equals("$.evaluation.security.passed", True), registered)
                .otherwise(
                    sfn.Fail(
                        self,
                        "BelowSecurityThreshold",
                        error="SecurityGateFailed",
                        cause_path="$.evaluation.security.reason",
                    )
                )
            )
        gate = sfn.Choice(self, "QualityGate", comment=f"accuracy >= {quality_threshold}")
        gate.when(
            sfn.Condition.number_greater_than_equals("$.evaluation.accuracy", quality_threshold),
            registered,
        )
        gate.otherwise(
            sfn.Fail(
                self,
                "BelowQualityThreshold",
                error="QualityGateFailed",
                cause=f"accuracy is below the {model} threshold {quality_threshold}",
            )
        )

        log_group = encrypted_log_group(
            self,
            "Logs",
            key=key,
            retention_days=log_retention_days,
            retain=retain,
            name=f"/aws/vendedlogs/states/{group_name}",
        )
        # An explicit name: the KMS grant's encryption-context condition names the state machine's ARN.
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=group_name,
            definition_body=sfn.DefinitionBody.from_chainable(
                training_job.channel_check.then(training_job.task.next(evaluate).next(gate))
            ),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
            comment=f"Train, evaluate, gate and register the {model} model",
        )
        for statement in training_job.policy_statements:
            self.state_machine.add_to_role_policy(statement)
        inference_image.repository.grant_pull(self.state_machine.role)
        acknowledge_inline_policies(self.state_machine.role)
        depend_on_policy_only(self.state_machine.node.default_child, self.state_machine.role)
        allow_wildcards(
            self.state_machine,
            "State machine role: training jobs named with this pipeline's prefix, model "
            "packages of its own group, versions of the evaluation function; Resource * "
            "only for ecr:GetAuthorizationToken and the X-Ray and CloudWatch Logs delivery "
            "actions of tracing and logging, which allow no resource-level scoping.",
            rf"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/"
            rf"{re.escape(group_name)}-\*",
            rf"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:model-package/"
            rf"{re.escape(group_name)}/\*",
            r"Resource::<[A-Za-z0-9]+\.Arn>:\*",
            r"Resource::\*",
        )
