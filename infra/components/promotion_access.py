"""The one cross-account read of promotion: an environment that takes its models from another (prod
from dev) serves the very model.tar.gz that served there, read from the source's artifact bucket.

Both sides must allow it (https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-
managing-access-example2.html, a bucket owner granting cross-account object reads, and
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html, a key
policy allowing another account plus that account's IAM policy):
- the source's bucket policy and key policy name the reading account, only for the job outputs'
  model.tar.gz of its model prefixes, only through S3, and only for principals tagged as readers of
  the source (the reading environment's serving model roles, tagged here);
- the reading model roles' IAM policies allow the same objects and the source's key through S3.
SageMaker downloads ModelDataUrl with the model's execution role:
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createmodel-perms
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

import shared_names as names
from infra.nag import allow_wildcards

READER_TAG = "elasticml:reads-models-of"


def model_objects(model: str) -> str:
    """The model.tar.gz of every training job of `model` (SageMaker's `<prefix>/<job>/output/model.tar.gz`)."""
    return f"{names.training_output_prefix(model)}/*/output/model.tar.gz"


def allow_promoted_reads(
    bucket: s3.Bucket,
    key: kms.Key,
    *,
    bucket_arn: str,
    source_env: str,
    reader_accounts: Sequence[str],
    models: Sequence[str],
) -> None:
    """In the source environment: let the reading accounts' tagged model roles read the model artifacts.
    `bucket_arn`: the bucket's ARN from its deterministic name (a GetAtt in the key policy would make
    the key and the bucket it encrypts depend on each other)."""
    for account in sorted(set(reader_accounts)):
        tagged = {"StringEquals": {f"aws:PrincipalTag/{READER_TAG}": source_env}}
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"PromotedModelReads{account}",
                principals=[iam.AccountPrincipal(account)],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(model_objects(m)) for m in models],
                conditions=tagged,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"PromotedModelReads{account}",
                principals=[iam.AccountPrincipal(account)],
                actions=["kms:Decrypt"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    **tagged,
                    "StringEquals": {
                        **tagged["StringEquals"],
                        "kms:ViaService": f"s3.{bucket.stack.region}.amazonaws.com",
                        "kms:EncryptionContext:aws:s3:arn": bucket_arn,
                    },
                },
            )
        )


def read_promoted_models(
    role: iam.Role, *, source_env: str, bucket: str, account: str, region: str, model: str
) -> None:
    """In the reading environment: let a serving model role read `model`'s artifacts in the source bucket."""
    Tags.of(role).add(READER_TAG, source_env)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PromotedModelArtifact",
            actions=["s3:GetObject"],
            resources=[f"arn:aws:s3:::{bucket}/{model_objects(model)}"],
        )
    )
    # The source's key is another account's; its ARN is not known here, so any key of that account,
    # used only by S3 for this bucket (the key policy on the other side names the exact key).
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PromotedModelKey",
            actions=["kms:Decrypt"],
            resources=[f"arn:aws:kms:{region}:{account}:key/*"],
            conditions={
                "StringEquals": {
                    "kms:ViaService": f"s3.{region}.amazonaws.com",
                    "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}",
                }
            },
        )
    )
    allow_wildcards(
        role,
        f"Promoted models: the {model} job outputs' model.tar.gz in {source_env}'s artifact bucket, decrypted "
        f"through S3 with {source_env}'s key (its ARN is another account's, named by that key's policy).",
        rf"Resource::arn:aws:s3:::{re.escape(bucket)}/{re.escape(names.training_output_prefix(model))}/\*/output/model\.tar\.gz",
        rf"Resource::arn:aws:kms:{re.escape(region)}:{account}:key/\*",
    )
