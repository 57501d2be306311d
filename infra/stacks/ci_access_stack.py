"""`<project>-<env>-ci-access`: what the release workflow may do in one environment, with no long-lived key.

- The GitHub OIDC provider (or the account's existing one, by ARN: IAM holds one provider per URL).
- A deploy role that only a job of the configured repository running in the environment's GitHub
  environment can assume (`aud` and `sub` pinned), allowed only to: assume the CDK bootstrap roles
  (deploy, file and image publishing, lookup), start and describe the training state machines (with
  the KMS use their customer-managed encryption needs), and read and update this environment's model
  registry as promotion needs.
- Model promotion: an EventBridge rule on `SageMaker Model Package State Change` for an approval in
  this environment's groups, sent through an API destination to GitHub's `repository_dispatch`, so
  the promotion workflow deploys the approved package; the GitHub token lives in Secrets Manager.
- `DeployedCommit`: the commit the release workflow deployed last, where the next review finds it.
"""

from __future__ import annotations

import re

from aws_cdk import CfnOutput, Duration, SecretValue, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

import shared_names as names
from infra.ci_settings import GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_HOST, CiSettings
from infra.components.common import acknowledge
from infra.nag import allow_wildcards
from infra.settings import EnvironmentSettings

# The roles `cdk bootstrap` creates, `cdk-<qualifier>-<purpose>-role-<account>-<region>`.
# https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html (the bootstrap template's
# DeploymentActionRole, FilePublishingRole, ImagePublishingRole and LookupRole)
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
DEPLOYED_COMMIT_OUTPUT = names.CI_ACCESS_OUTPUTS["deployed_commit"]
DEPLOY_ROLE_OUTPUT = names.CI_ACCESS_OUTPUTS["deploy_role_arn"]


def deploy_role_name(settings: EnvironmentSettings) -> str:
    return names.deploy_role_name(settings.env, settings.project)


def dispatch_token_secret(settings: EnvironmentSettings) -> str:
    """The Secrets Manager secret holding the GitHub token of the dispatch (created by hand, see docs/deploy.md)."""
    return f"{settings.prefix}/github-dispatch-token"


class CiAccessStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        ci: CiSettings,
        deployed_commit: str | None,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id, description=description)
        env = ci.of(settings.env)
        models = [t.model for t in settings.training]
        groups = [f"{settings.prefix}-{m}" for m in models]

        if env.oidc_provider_arn:
            provider_arn = env.oidc_provider_arn
        else:
            # AWS::IAM::OIDCProvider with no thumbprint: IAM trusts GitHub's provider through its own
            # library of root CAs, and a thumbprint is optional. https://docs.aws.amazon.com/IAM/latest/
            # UserGuide/id_roles_providers_create_oidc.html ; audience and URL as GitHub documents them:
            # https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
            provider = iam.CfnOIDCProvider(
                self,
                "GitHubOidcProvider",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_id_list=[GITHUB_OIDC_AUDIENCE],
            )
            provider_arn = provider.attr_arn
        # Both claims pinned with StringEquals: only a job of this repository running in this
        # environment's GitHub environment (whose protection rules GitHub enforces before the job gets
        # a token) can assume the role. https://docs.aws.amazon.com/IAM/latest/UserGuide/
        # id_roles_create_for-idp_oidc.html#idp_oidc_Create_GitHub
        self.role = iam.Role(
            self,
            "DeployRole",
            role_name=deploy_role_name(settings),
            description=f"GitHub Actions ({ci.subject(settings.env)}): release and promote {settings.prefix}",
            max_session_duration=Duration.hours(2),
            assumed_by=iam.WebIdentityPrincipal(
                provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": ci.subject(settings.env),
                    }
                },
            ),
        )
        policy = iam.Policy(self, "DeployPolicy", roles=[self.role])
        for statement in self._statements(settings, ci, models, groups):
            policy.add_statements(statement)
        acknowledge(
            policy,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "The deploy role's policy belongs to this one role; a managed policy would only make it "
            "attachable elsewhere.",
        )
        allow_wildcards(
            policy,
            "Deploy role: executions of this environment's state machines (their names are generated), "
            "versions of its own model package groups, and the project key found by its alias "
            "(kms:ResourceAliases) with Step Functions' encryption context; ListModelPackages takes no "
            "resource ARN (Service Authorization Reference, Amazon SageMaker).",
            rf"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            rf"{re.escape(settings.prefix)}-[a-z]+:\*",
            rf"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:model-package/"
            rf"{re.escape(settings.prefix)}-[a-z]+/\*",
            r"Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/\*",
            r"Resource::\*",
        )
        CfnOutput(
            self,
            DEPLOY_ROLE_OUTPUT,
            value=self.role.role_arn,
            description="The role the release workflow assumes (python -m release target names it from cdk.json)",
        )
        if deployed_commit:
            CfnOutput(
                self,
                DEPLOYED_COMMIT_OUTPUT,
                value=deployed_commit,
                description="The commit the release workflow deployed last (git tag deployed/<env> mirrors it)",
            )
        if env.promotion_events:
            self._promotion_events(settings, ci, groups)

    def _statements(
        self, settings: EnvironmentSettings, ci: CiSettings, models: list[str], groups: list[str]
    ) -> list[iam.PolicyStatement]:
        account, region, partition = self.account, self.region, self.partition
        bootstrap = [
            f"arn:{partition}:iam::{account}:role/cdk-{ci.bootstrap_qualifier}-{purpose}-role-{account}-{region}"
            for purpose in BOOTSTRAP_ROLES
        ]
        machines = [f"arn:{partition}:states:{region}:{account}:stateMachine:{g}" for g in groups]
        executions = [f"arn:{partition}:states:{region}:{account}:execution:{g}:*" for g in groups]
        group_arns = [f"arn:{partition}:sagemaker:{region}:{account}:model-package-group/{g}" for g in groups]
        packages = [f"arn:{partition}:sagemaker:{region}:{account}:model-package/{g}/*" for g in groups]
        statements = [
            iam.PolicyStatement(sid="AssumeCdkBootstrapRoles", actions=["sts:AssumeRole"], resources=bootstrap),
            iam.PolicyStatement(
                sid="StartTraining",
                actions=["states:StartExecution", "states:DescribeStateMachine"],
                resources=machines,
            ),
            iam.PolicyStatement(
                sid="WatchTraining",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=executions,
            ),
            # The state machines are encrypted with the project key: StartExecution needs
            # kms:GenerateDataKey and reading an execution kms:Decrypt, through Step Functions, in the
            # state machine's encryption context. https://docs.aws.amazon.com/step-functions/latest/dg/
            # encryption-at-rest.html . The key's ARN is another stack's; it is found by its alias.
            # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-resource-aliases
            iam.PolicyStatement(
                sid="ProjectKeyForStateMachines",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[f"arn:{partition}:kms:{region}:{account}:key/*"],
                conditions={
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": f"alias/{settings.prefix}"},
                    "StringEquals": {"kms:ViaService": f"states.{region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:states:stateMachineArn": machines},
                },
            ),
            iam.PolicyStatement(
                sid="ReadAndUpdateRegistry",
                actions=[
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:UpdateModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                ],
                resources=group_arns + packages,
            ),
            # ListModelPackages supports no resource type: its Resource must be "*".
            # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html
            iam.PolicyStatement(sid="ListRegistry", actions=["sagemaker:ListModelPackages"], resources=["*"]),
        ]
        if ci.of(settings.env).promote_from:
            # Promotion registers the package that served in the source environment (same artifact)
            # in this environment's groups.
            statements.append(
                iam.PolicyStatement(
                    sid="RegisterPromotedPackages",
                    actions=["sagemaker:CreateModelPackage"],
                    resources=group_arns + packages,
                )
            )
        return statements

    def _promotion_events(self, settings: EnvironmentSettings, ci: CiSettings, groups: list[str]) -> None:
        """Approval in the registry -> EventBridge -> API destination -> GitHub repository_dispatch.

        The event fires on every change of a package (creation, metadata updates, the approval status
        going either way), so the rule matches only ModelApprovalStatus Approved in this environment's
        groups. https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html
        (SageMaker model package state change). API destinations and their connection, whose
        credentials EventBridge keeps in a Secrets Manager secret it manages:
        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-api-destinations.html and
        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-target-connection.html
        GitHub's endpoint: POST /repos/OWNER/REPO/dispatches with `event_type` and `client_payload`,
        a token with Contents write: https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event
        """
        # The secret's string is the whole header value, `Bearer <token>` (docs/deploy.md).
        connection = events.Connection(
            self,
            "GitHubConnection",
            description=f"{settings.prefix}: GitHub repository_dispatch (token from {dispatch_token_secret(settings)})",
            authorization=events.Authorization.api_key(
                "Authorization", SecretValue.secrets_manager(dispatch_token_secret(settings))
            ),
            header_parameters={
                "Accept": events.HttpParameter.from_string("application/vnd.github+json"),
                "X-GitHub-Api-Version": events.HttpParameter.from_string("2022-11-28"),
            },
        )
        destination = events.ApiDestination(
            self,
            "GitHubDispatch",
            connection=connection,
            endpoint=f"https://api.github.com/repos/{ci.repo}/dispatches",
            http_method=events.HttpMethod.POST,
            rate_limit_per_second=1,
            description=f"{settings.prefix}: model approvals to {ci.repo}'s promote workflow",
        )
        events.Rule(
            self,
            "ModelApproved",
            description=f"{settings.prefix}: a package approved in {', '.join(groups)} -> the promote workflow",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[MODEL_PACKAGE_STATE_CHANGE],
                detail={"ModelPackageGroupName": groups, "ModelApprovalStatus": ["Approved"]},
            ),
            targets=[
                targets.ApiDestination(
                    destination,
                    event=events.RuleTargetInput.from_object(
                        {
                            "event_type": names.DISPATCH_EVENT_TYPE,
                            "client_payload": {
                                "environment": settings.env,
                                "model_package_arn": events.EventField.from_path("$.detail.ModelPackageArn"),
                                "model_package_group": events.EventField.from_path("$.detail.ModelPackageGroupName"),
                                "model_approval_status": events.EventField.from_path("$.detail.ModelApprovalStatus"),
                            },
                        }
                    ),
                    retry_attempts=8,
                    max_event_age=Duration.hours(2),
                )
            ],
        )
        acknowledge(
            destination,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "The rule's role has one inline statement, events:InvokeApiDestination on this destination; a "
            "managed policy would only make it attachable elsewhere.",
        )
