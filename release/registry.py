"""The SageMaker model registry as promotion uses it: describe, find what serves an endpoint, mark it.

Every call goes through `call`, which retries throttling with backoff and then fails with a clear
message: boto3's own retries are the first line, but a promotion that is throttled past them must
say so rather than leave the registry half-updated.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

import shared_names as names

# Error codes SageMaker and STS answer when a caller is throttled.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html
THROTTLING = ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded")
PACKAGE_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):model-package/(?P<group>[A-Za-z0-9-]+)/(?P<version>\d+)"
)


class PromotionError(RuntimeError):
    """Promotion cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Registry:
    """One environment's registry: a boto3 SageMaker client, and how to wait between retries."""

    client: Any
    attempts: int = 5
    sleep: Callable[[float], None] = time.sleep

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        for attempt in range(self.attempts):
            try:
                return getattr(self.client, operation)(**params)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in THROTTLING:
                    raise
                if attempt == self.attempts - 1:
                    raise PromotionError(
                        f"{operation}: throttled {self.attempts} times; nothing further was changed. Run the "
                        "workflow again (Re-run jobs) once the account's SageMaker request rate allows"
                    ) from exc
                self.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")

    def describe(self, arn: str) -> dict[str, Any]:
        return self.call("describe_model_package", ModelPackageName=arn)

    def serving(self, group: str, endpoint: str) -> str | None:
        """The approved package of `group` whose metadata says it serves `endpoint` (newest first)."""
        token = None
        while True:
            params = dict(
                ModelPackageGroupName=group,
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=50,
            )
            page = self.call("list_model_packages", **params, **({"NextToken": token} if token else {}))
            for summary in page.get("ModelPackageSummaryList", []):
                arn = summary["ModelPackageArn"]
                metadata = self.describe(arn).get("CustomerMetadataProperties") or {}
                if metadata.get(names.SERVING_ENDPOINT_KEY) == endpoint:
                    return arn
            token = page.get("NextToken")
            if not token:
                return None

    def mark_serving(self, arn: str, *, endpoint: str, env: str, at: str, previous: str | None) -> None:
        """Record that `arn` serves `endpoint` (and since when it served in `env`); the package that
        served it before no longer does."""
        metadata = self.describe(arn).get("CustomerMetadataProperties") or {}
        update = {names.SERVING_ENDPOINT_KEY: endpoint}
        if names.served_in_key(env) not in metadata:
            update[names.served_in_key(env)] = at
        self.call("update_model_package", ModelPackageArn=arn, CustomerMetadataProperties=update)
        if previous and previous != arn:
            self.call(
                "update_model_package",
                ModelPackageArn=previous,
                CustomerMetadataPropertiesToRemove=[names.SERVING_ENDPOINT_KEY],
            )
