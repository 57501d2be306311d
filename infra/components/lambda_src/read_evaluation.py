"""Reads evaluation.json from a SageMaker training job's output.tar.gz (next to its model.tar.gz).

The Lambda's inline code is evaluation_tarball.py (`read_evaluation`, `EvaluationMissing`) followed by
this file: see infra/components/evaluation.py.
"""

import os

import boto3

S3 = boto3.client("s3")
MAX_BYTES = 200 * 1024 * 1024


def handler(event, _context):
    model_uri = event["model_artifacts"]
    if not model_uri.startswith("s3://") or not model_uri.endswith("/output/model.tar.gz"):
        raise ValueError(f"not a training job model artifact: {model_uri}")
    bucket, _, key = model_uri[len("s3://") :].partition("/")
    if bucket != os.environ["ARTIFACT_BUCKET"]:
        raise ValueError(f"{bucket} is not the artifact bucket")
    key = key[: -len("model.tar.gz")] + "output.tar.gz"
    head = S3.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] > MAX_BYTES:
        raise ValueError(f"s3://{bucket}/{key} is larger than {MAX_BYTES} bytes")
    body = S3.get_object(Bucket=bucket, Key=key)["Body"].read()
    evaluation = read_evaluation(body, f"s3://{bucket}/{key}")  # noqa: F821 (prepended: evaluation_tarball.py)
    result = {
        "accuracy": float(evaluation["accuracy"]),
        "macro_f1": float(evaluation.get("macro_f1", 0.0)),
        "split": str(evaluation.get("split", "")),
        "num_samples": int(evaluation.get("num_samples", 0)),
        "evaluation_uri": f"s3://{bucket}/{key}",
    }
    if "security_gate" in event:  # the thresholds, from cdk.json through the state machine's payload
        result["security"] = security_verdict(evaluation, event["security_gate"])  # noqa: F821 (prepended)
    return result
