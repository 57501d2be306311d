"""The boto3 session an experiment runs with, and the translation of AWS failures into clear errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import boto3
from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from experiments.errors import ExperimentError, NoCredentials, NoRegion

CREDENTIAL_ERROR_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidToken",
}


def resolve_session(
    boto_session: boto3.Session | None = None, *, region: str | None = None, profile: str | None = None
) -> boto3.Session:
    """The caller's session (tests pass one), or one from the usual chain; checked for a region and
    credentials before anything is sent."""
    session = boto_session or boto3.Session(
        profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None
    )
    if not session.region_name:
        raise NoRegion()
    try:
        credentials = session.get_credentials()
    except (PartialCredentialsError, TokenRetrievalError, UnauthorizedSSOTokenError) as exc:
        raise NoCredentials(str(exc)) from exc
    if credentials is None:
        raise NoCredentials()
    return session


@contextlib.contextmanager
def aws_errors() -> Iterator[None]:
    """Credentials that fail on first use (expired, revoked) read as what they are."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError, TokenRetrievalError, UnauthorizedSSOTokenError) as exc:
        raise NoCredentials(str(exc)) from exc
    except NoRegionError as exc:
        raise NoRegion() from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") in CREDENTIAL_ERROR_CODES:
            raise NoCredentials(error.get("Message", "")) from exc
        if error.get("Code") in ("AccessDenied", "AccessDeniedException"):
            raise ExperimentError(
                f"Access denied by AWS: {error.get('Message', '')} Your identity needs the "
                "experimenter permissions (see docs/experiments.md)."
            ) from exc
        raise
