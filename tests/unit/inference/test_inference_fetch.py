"""`python -m inference fetch-model`: what an init container does before the server starts (download
model.tar.gz from S3, unpack it into the model dir), with a stand-in S3 client serving a real archive."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from inference.errors import ArtifactError
from inference.fetch import FetchError, fetch_model, parse_s3_uri

from tests.helpers.inference_fixtures import build_cnn_artifact

SOURCE = "s3://elasticml-dev-artifacts-111111111111-eu-west-1/training/cnn/job-7/output/model.tar.gz"


class FakeS3:
    """`download_file(bucket, key, filename)`, as boto3's S3 client has it, from one archive on disk."""

    def __init__(self, archive: Path) -> None:
        self.archive, self.calls = archive, []

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.calls.append((bucket, key))
        shutil.copy(self.archive, filename)


def archive_of(folder: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)  # SageMaker's layout: the model dir's files at the top
    return target


def test_it_unpacks_the_artifact_into_the_model_dir(tmp_path):
    model = build_cnn_artifact(tmp_path / "model")
    client = FakeS3(archive_of(model, tmp_path / "model.tar.gz"))
    out = fetch_model(SOURCE, tmp_path / "opt" / "ml" / "model", client=client)
    assert client.calls == [parse_s3_uri(SOURCE)]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in model.iterdir())
    assert json.loads((out / "manifest.json").read_text()) == json.loads((model / "manifest.json").read_text())


def test_a_member_outside_the_model_dir_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"x"
        info = tarfile.TarInfo("../escape.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArtifactError, match="not a readable model.tar.gz"):
        fetch_model(SOURCE, tmp_path / "model", client=FakeS3(archive))
    assert not (tmp_path / "escape.txt").exists()


def test_an_archive_without_a_manifest_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no model here")
    with pytest.raises(ArtifactError, match="manifest.json"):
        fetch_model(SOURCE, tmp_path / "model", client=FakeS3(archive_of(empty, tmp_path / "a.tar.gz")))


def test_a_source_that_is_not_an_s3_tarball_is_refused():
    with pytest.raises(ArtifactError, match="s3://BUCKET/KEY.tar.gz"):
        parse_s3_uri("https://example.com/model.tar.gz")


class DeniedS3:
    def download_file(self, bucket: str, key: str, filename: str) -> None:
        raise PermissionError("AccessDenied")


def test_a_failed_download_is_a_fetch_error_not_an_artifact_error(tmp_path):
    with pytest.raises(FetchError, match="download failed.*AccessDenied"):
        fetch_model(SOURCE, tmp_path / "model", client=DeniedS3())
