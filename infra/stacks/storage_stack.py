"""The project key and the data, artifact and access-log buckets."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

import shared_names as names
from infra.components.promotion_access import allow_promoted_reads
from infra.components.storage import AccessLogBucket, ProjectKey, SecureBucket
from infra.settings import EnvironmentSettings


class StorageStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        description: str,
        promoted_readers: Sequence[str] = (),
    ) -> None:
        """`promoted_readers`: the accounts of the environments that take their models from this one
        (cdk.json `ci.environments.<env>.promote_from`); they may read the model artifacts."""
        super().__init__(scope, construct_id, description=description)
        s = settings.storage
        self.key = ProjectKey(self, "ProjectKey", alias=f"alias/{settings.prefix}", retain=settings.retain).key
        self.access_logs = AccessLogBucket(
            self, "AccessLogs", expiration_days=s.access_log_expiration_days, retain=settings.retain
        ).bucket
        common = dict(
            key=self.key,
            access_logs=self.access_logs,
            retain=settings.retain,
            infrequent_access_after_days=s.infrequent_access_after_days,
            noncurrent_version_expiration_days=s.noncurrent_version_expiration_days,
        )
        self.data_bucket_name = bucket_name(settings, "data")
        self.artifact_bucket_name = bucket_name(settings, "artifacts")
        self.data_bucket = SecureBucket(
            self, "Data", bucket_name=self.data_bucket_name, log_prefix="data", **common
        ).bucket
        self.artifact_bucket = SecureBucket(
            self,
            "Artifacts",
            bucket_name=self.artifact_bucket_name,
            log_prefix="artifacts",
            **common,
            expirations={"data-capture/": s.data_capture_expiration_days, "checkpoints/": s.checkpoint_expiration_days},
        ).bucket
        if promoted_readers:
            allow_promoted_reads(
                self.artifact_bucket,
                self.key,
                bucket_arn=f"arn:{self.partition}:s3:::{self.artifact_bucket_name}",
                source_env=settings.env,
                reader_accounts=promoted_readers,
                models=[t.model for t in settings.training],
            )
        CfnOutput(
            self,
            names.STORAGE_OUTPUTS["data_bucket"],
            value=self.data_bucket.bucket_name,
            description="Upload training data to s3://BUCKET/<model>/<channel>/",
        )
        CfnOutput(self, names.STORAGE_OUTPUTS["artifact_bucket"], value=self.artifact_bucket.bucket_name)
        CfnOutput(self, names.STORAGE_OUTPUTS["key_arn"], value=self.key.key_arn)

    def buckets_for(self, scope: Construct) -> tuple[s3.IBucket, s3.IBucket]:
        """The data and artifact buckets as another stack sees them: by their deterministic names, so
        that stack's policies and S3 URIs name them without cross-stack exports."""
        return tuple(
            s3.Bucket.from_bucket_attributes(scope, f"{label}Bucket", bucket_name=name, encryption_key=self.key)
            for label, name in (("Data", self.data_bucket_name), ("Artifacts", self.artifact_bucket_name))
        )


def bucket_name(settings: EnvironmentSettings, purpose: str) -> str:
    """Globally unique and known before deploy: project, env, purpose, account and region."""
    return names.bucket_name(settings.env, purpose, Aws.ACCOUNT_ID, Aws.REGION, settings.project)
