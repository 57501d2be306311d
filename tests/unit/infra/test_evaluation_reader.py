"""The evaluation reader's handler, run here against an in-memory stand-in for S3 (no AWS, no boto3)."""

from __future__ import annotations

import io
import json
import sys
import tarfile
import types

import pytest

from evaluation_tarball import EvaluationMissing, read_evaluation
from infra.components.evaluation import SOURCE, lambda_source

BUCKET = "artifacts-bucket"
MODEL = f"s3://{BUCKET}/training/cnn/job-1/output/model.tar.gz"
OUTPUT_KEY = "training/cnn/job-1/output/output.tar.gz"


class FakeS3:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def head_object(self, Bucket, Key):  # boto3's names
        return {"ContentLength": len(self.objects[(Bucket, Key)])}

    def get_object(self, Bucket, Key):
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def handler(monkeypatch):
    """The Lambda module, loaded with a stand-in boto3 (the Lambda runtime provides the real one)."""
    monkeypatch.setenv("ARTIFACT_BUCKET", BUCKET)
    monkeypatch.setitem(sys.modules, "boto3", types.SimpleNamespace(client=lambda service: FakeS3({})))
    module = types.ModuleType("read_evaluation")
    exec(compile(lambda_source(), str(SOURCE), "exec"), module.__dict__)  # the Lambda's inline code, as deployed
    return module


def test_reads_accuracy_from_output_tar(handler):
    evaluation = {"split": "test", "num_samples": 500, "accuracy": 0.91, "macro_f1": 0.9}
    handler.S3 = FakeS3(
        {
            (BUCKET, OUTPUT_KEY): tarball(
                {"./evaluation.json": json.dumps(evaluation).encode(), "confusion_matrix.png": b"png"}
            )
        }
    )
    assert handler.handler({"model_artifacts": MODEL}, None) == {
        "accuracy": 0.91,
        "macro_f1": 0.9,
        "split": "test",
        "num_samples": 500,
        "evaluation_uri": f"s3://{BUCKET}/{OUTPUT_KEY}",
    }


def test_missing_evaluation_is_an_error(handler):
    handler.S3 = FakeS3({(BUCKET, OUTPUT_KEY): tarball({"learning_curves.png": b"png"})})
    with pytest.raises(handler.EvaluationMissing, match="holds no evaluation.json"):
        handler.handler({"model_artifacts": MODEL}, None)


@pytest.mark.parametrize(
    "uri",
    ["s3://other-bucket/training/cnn/job-1/output/model.tar.gz", f"s3://{BUCKET}/training/cnn/job-1/model.tar.gz"],
)
def test_refuses_anything_but_a_job_artifact_in_the_artifact_bucket(handler, uri):
    handler.S3 = FakeS3({})
    with pytest.raises(ValueError):
        handler.handler({"model_artifacts": uri}, None)


@pytest.mark.parametrize("name", ["evaluation.json", "./evaluation.json"])
def test_the_shared_reader_takes_the_name_as_tar_writes_it(name):
    assert read_evaluation(tarball({name: b'{"accuracy": 1.0}'})) == {"accuracy": 1.0}


@pytest.mark.parametrize("name", ["../evaluation.json", "./../evaluation.json", "sub/evaluation.json"])
def test_the_shared_reader_takes_only_the_top_level_file(name):
    """A prefix is removed, not characters: `lstrip("./")` took `../evaluation.json` for the real one."""
    with pytest.raises(EvaluationMissing):
        read_evaluation(tarball({name: b"{}"}))


GATE = {"model": "cnn", "attack": "pgd", "budget": "2/255", "min_robust_accuracy": 0.3, "max_membership_auc": 0.6}


def secure_evaluation(robust: float, auc: float) -> dict:
    return {
        "accuracy": 0.9,
        "security": {
            "robustness": {"clean_accuracy": 0.9, "accuracy": {"pgd": {"1/255": 0.6, "2/255": robust}}},
            "privacy": {"auc": auc},
        },
    }


def judge(handler, evaluation: dict) -> dict:
    handler.S3 = FakeS3({(BUCKET, OUTPUT_KEY): tarball({"evaluation.json": json.dumps(evaluation).encode()})})
    return handler.handler({"model_artifacts": MODEL, "security_gate": GATE}, None)["security"]


def test_the_gate_passes_a_model_within_its_security_thresholds(handler):
    verdict = judge(handler, secure_evaluation(robust=0.35, auc=0.55))
    assert verdict["passed"] is True
    assert (verdict["robust_accuracy"], verdict["membership_auc"]) == (0.35, 0.55)


@pytest.mark.parametrize(
    "evaluation, reason",
    [
        (
            secure_evaluation(robust=0.12, auc=0.55),
            "robust accuracy 0.1200 (pgd at 2/255) is below the cnn threshold min_robust_accuracy 0.3",
        ),
        (
            secure_evaluation(robust=0.5, auc=0.71),
            "membership inference AUC 0.7100 is above the cnn threshold max_membership_auc 0.6",
        ),
        ({"accuracy": 0.9}, "evaluation.json has no security figures"),
        ({"accuracy": 0.9, "security": {"error": "ValueError: boom"}}, "security evaluation failed: ValueError: boom"),
        (
            {"accuracy": 0.9, "security": {"robustness": {"skipped": "security_budget_s=1 affords 0 items"}}},
            "robust accuracy (pgd at 2/255) is missing: security_budget_s=1 affords 0 items",
        ),
    ],
)
def test_the_gate_refuses_a_model_below_its_thresholds_naming_figure_and_threshold(handler, evaluation, reason):
    verdict = judge(handler, evaluation)
    assert verdict["passed"] is False
    assert reason in verdict["reason"]


def test_without_thresholds_the_reader_returns_no_verdict(handler):
    handler.S3 = FakeS3(
        {(BUCKET, OUTPUT_KEY): tarball({"evaluation.json": json.dumps(secure_evaluation(0, 1)).encode()})}
    )
    assert "security" not in handler.handler({"model_artifacts": MODEL}, None)
