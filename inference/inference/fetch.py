"""`python -m inference fetch-model --source s3://BUCKET/KEY.tar.gz --model-dir DIR`: what SageMaker
does before it starts a serving container (download model.tar.gz, unpack it into /opt/ml/model), for
a Kubernetes init container. Credentials come from the pod's role through boto3's default chain (EKS
Pod Identity's container credentials, or IRSA's web identity token).
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from inference.artifact import load_manifest
from inference.errors import ArtifactError


class FetchError(RuntimeError):
    """The download failed (credentials, permissions, network, a missing key): not the artifact's fault."""


S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9.-]{3,63})/(?P<key>.+\.tar\.gz)$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = S3_URI.match(uri)
    if not match:
        raise ArtifactError(f"--source: {uri!r} is not an s3://BUCKET/KEY.tar.gz URI")
    return match["bucket"], match["key"]


def fetch_model(source: str, model_dir: Path, client: Any = None) -> Path:
    """Download `source` and unpack it into `model_dir` (members outside it are refused: tarfile's
    `data` filter); the unpacked artifact's manifest is checked before this returns."""
    bucket, key = parse_s3_uri(source)
    if client is None:
        import boto3

        client = boto3.client("s3")
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "model.tar.gz"
        try:
            client.download_file(bucket, key, str(archive))
        except Exception as exc:  # botocore's ClientError, NoCredentialsError, EndpointConnectionError, ...
            raise FetchError(f"{source}: download failed ({type(exc).__name__}: {exc})") from exc
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(model_dir, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ArtifactError(f"{source}: not a readable model.tar.gz ({exc})") from exc
    load_manifest(model_dir)
    return model_dir
