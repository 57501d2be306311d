"""S3 URIs given on the command line: parsed, and checked to exist before a job is started on them."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from experiments.errors import ExperimentError, S3UriNotFound


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str) -> S3Uri:
        if not text.startswith("s3://") or not text[5:].split("/", 1)[0]:
            raise ExperimentError(f"expected an S3 URI like s3://bucket/prefix/, got {text!r}")
        bucket, _, key = text[5:].partition("/")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def check_exists(s3, uri: S3Uri) -> None:
    """An object (HeadObject) or a non-empty prefix (ListObjectsV2, one key) must be there."""
    if uri.key and not uri.key.endswith("/"):
        try:
            s3.head_object(Bucket=uri.bucket, Key=uri.key)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise S3UriNotFound(str(uri), _reason(exc)) from exc
    prefix = uri.key if not uri.key or uri.key.endswith("/") else uri.key + "/"
    try:
        listing = s3.list_objects_v2(Bucket=uri.bucket, Prefix=prefix, MaxKeys=1)
    except ClientError as exc:
        raise S3UriNotFound(str(uri), _reason(exc)) from exc
    if not listing.get("KeyCount", len(listing.get("Contents", []))):
        raise S3UriNotFound(str(uri))


def _reason(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
