"""The project key and buckets, in a bare stack and as the storage stacks synthesize them."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Capture, Match, Template

from infra.components.storage import AccessLogBucket, ProjectKey, SecureBucket

from .conftest import bare_stack


@pytest.fixture(scope="module")
def template() -> Template:
    stack = bare_stack()
    key = ProjectKey(stack, "Key", alias="alias/test", retain=False).key
    logs = AccessLogBucket(stack, "Logs", expiration_days=90, retain=False).bucket
    SecureBucket(
        stack,
        "Data",
        bucket_name="test-data",
        key=key,
        access_logs=logs,
        log_prefix="data",
        infrequent_access_after_days=45,
        noncurrent_version_expiration_days=30,
        retain=True,
    )
    return Template.from_stack(stack)


def test_key_rotates_and_lets_only_this_accounts_logs_use_it(template):
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                # the regional principal; logs.amazonaws.com fails every log group's create
                                "Principal": {
                                    "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
                                },
                                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": Match.any_value()}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_data_bucket_uses_the_key_and_logs_to_the_access_log_bucket(template):
    key = Capture()
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": "test-data",
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": Match.string_like_regexp("^LogsBucket")},
                "LogFilePrefix": "data/",
            },
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 45}],
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                        }
                    )
                ]
            },
        },
    )
    assert key.as_object()["Fn::GetAtt"][0].startswith("Key") and key.as_object()["Fn::GetAtt"][1] == "Arn"


def test_every_bucket_is_versioned_private_and_has_a_lifecycle(template):
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["LifecycleConfiguration"]["Rules"]
        assert "BucketEncryption" in props


def test_every_bucket_policy_denies_plain_http(template):
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        denials = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(
            s["Action"] == "s3:*"
            and s["Principal"] == {"AWS": "*"}
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in denials
        )


def test_retention_follows_the_setting(template):
    template.has_resource(
        "AWS::S3::Bucket",
        {"Properties": {"BucketName": "test-data"}, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
    )
    template.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete"})


@pytest.mark.parametrize("env,policy", [("dev", "Delete"), ("prod", "Retain")])
def test_storage_stack_buckets_are_named_per_account_and_region(synthesized, env, policy):
    template = synthesized.template(f"elasticml-{env}-storage")
    template.resource_count_is("AWS::S3::Bucket", 3)
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketName": {
                    "Fn::Join": [
                        "",
                        [f"elasticml-{env}-artifacts-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"}],
                    ]
                }
            },
            "DeletionPolicy": policy,
        },
    )
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/elasticml-{env}"})


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_storage_stack_kms_on_data_buckets_and_tls_only_everywhere(synthesized, env):
    template = synthesized.json(f"elasticml-{env}-storage")
    buckets = {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::S3::Bucket"}
    algorithms = sorted(
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        for p in buckets.values()
    )
    assert algorithms == ["AES256", "aws:kms", "aws:kms"]  # the access-log bucket must be SSE-S3
    policies = [v["Properties"] for v in template["Resources"].values() if v["Type"] == "AWS::S3::BucketPolicy"]
    assert {p["Bucket"]["Ref"] for p in policies} == set(buckets)
    for policy in policies:
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["PolicyDocument"]["Statement"]
        )
