"""The model version an endpoint serves, from the `-c` keys of the CDK CLI: which keys apply to an
environment, and whether the package or artifact they name is one that environment's endpoint can read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.allowed_values import ACCOUNT_ID, REGION
from infra.errors import SettingsError
from infra.settings_types import ModelVersion
from shared_names import bucket_name, stack_prefix, training_output_prefix

# The context keys that name the model version an endpoint serves, per model.
VERSION_KEYS = ("model_package_arn", "model_data_url")
MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):model-package/(?P<group>[A-Za-z0-9-]+)/\d+$"
)
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9.-]{3,63})/(?P<key>.+\.tar\.gz)$")


@dataclass(frozen=True)
class Where:
    """The environment a version must belong to; account and region None while unknown (synth without
    credentials), when any account or region matches."""

    project: str
    env: str
    account: str | None
    region: str | None

    @property
    def prefix(self) -> str:
        return stack_prefix(self.env, self.project)

    def artifact_bucket(self) -> str:
        return bucket_name(self.env, "artifacts", self.account or "ACCOUNT", self.region or "REGION", self.project)

    def is_artifact_bucket(self, name: str) -> bool:
        pattern = re.escape(self.artifact_bucket())
        pattern = pattern.replace("ACCOUNT", ACCOUNT_ID.pattern).replace("REGION", REGION.pattern)
        return re.fullmatch(pattern, name) is not None


def version_context(context: Mapping[str, Any], env: str, model: str) -> dict[str, str]:
    """The model-version keys that apply to `env`: `-c <env>:<model>_<key>=...` always, and the plain
    `-c <model>_<key>=...` only together with `-c env=<env>`, so a version never reaches an environment
    it was not meant for."""
    found = {}
    for key in VERSION_KEYS:
        plain, scoped = f"{model}_{key}", f"{env}:{model}_{key}"
        if context.get(plain) and context.get("env") != env:
            raise SettingsError(
                f"{plain}: a model version belongs to one environment; give -c env=NAME with "
                f"it, or name the environment in the key: -c {scoped}=..."
            )
        if context.get(plain) and context.get(scoped):
            raise SettingsError(f"{plain} and {scoped}: give one, not both")
        if context.get(scoped) or context.get(plain):
            found[key] = str(context.get(scoped) or context.get(plain))
    return found


def model_version(model: str, given: Mapping[str, str], where: Where) -> ModelVersion:
    """The version an endpoint serves; it must be where this environment's endpoint can read it: a
    package of this environment's group in its account and region, or an artifact in its artifact
    bucket under the model's training prefix (the model role may read nothing else)."""
    arn, url = given.get("model_package_arn"), given.get("model_data_url")
    if arn and url:
        raise SettingsError(f"{model}_model_package_arn and {model}_model_data_url: give one, not both")
    if arn:
        match = MODEL_PACKAGE_ARN.match(arn)
        if not match:
            raise SettingsError(
                f"{model}_model_package_arn: {arn!r} is not a versioned model package ARN "
                "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION)"
            )
        wanted = (where.region or match["region"], where.account or match["account"], f"{where.prefix}-{model}")
        if (match["region"], match["account"], match["group"]) != wanted:
            raise SettingsError(
                f"{model}_model_package_arn: {arn!r} is not a package of environment {where.env}: expected region "
                f"{where.region or 'REGION'}, account {where.account or 'ACCOUNT'}, group {wanted[2]}"
            )
    if url:
        match = S3_URI.match(url)
        if not match:
            raise SettingsError(f"{model}_model_data_url: {url!r} is not an s3://BUCKET/KEY.tar.gz URI")
        prefix = f"{training_output_prefix(model)}/"
        if not (where.is_artifact_bucket(match["bucket"]) and match["key"].startswith(prefix)):
            raise SettingsError(
                f"{model}_model_data_url: {url!r} is not in environment {where.env}'s artifact bucket "
                f"{where.artifact_bucket()} under {prefix}"
            )
    return ModelVersion(model_package_arn=arn, model_data_url=url)
