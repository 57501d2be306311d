"""Every resource is tagged with its own environment (a stack of one env must not carry another's tag)."""

import pytest

from tests.unit.infra.conftest import resources


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_buckets_carry_their_own_environment_tag(synthesized, env):
    buckets = resources(synthesized.json(f"elasticml-{env}-storage"), "AWS::S3::Bucket")
    assert buckets
    for bucket in buckets.values():
        tags = {t["Key"]: t["Value"] for t in bucket["Properties"]["Tags"]}
        assert (tags["environment"], tags["project"]) == (env, "elasticml")
