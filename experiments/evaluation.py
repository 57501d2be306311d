"""`evaluation.json` of a finished job (docs/contracts.md): fetched from `output.tar.gz`, printed as figures."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from evaluation_tarball import EvaluationMissing, read_evaluation
from experiments.errors import ExperimentError
from experiments.s3uri import S3Uri


def output_tarball_uri(model_artifacts_uri: str) -> S3Uri:
    """SageMaker writes `<output path>/<job>/output/model.tar.gz` and `output.tar.gz` beside it."""
    uri = S3Uri.parse(model_artifacts_uri)
    return S3Uri(uri.bucket, uri.key.rsplit("/", 1)[0] + "/output.tar.gz")


def fetch_evaluation(s3, model_artifacts_uri: str) -> dict[str, Any]:
    uri = output_tarball_uri(model_artifacts_uri)
    try:
        body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except ClientError as exc:
        raise ExperimentError(f"could not read {uri}: {exc.response.get('Error', {}).get('Message', exc)}") from exc
    try:
        return read_evaluation(body, str(uri))
    except EvaluationMissing as exc:
        raise ExperimentError(f"{exc}: did the job reach its evaluation step?") from exc


def format_evaluation(evaluation: dict[str, Any]) -> str:
    lines = [
        f"{evaluation.get('split', '?')} split, {evaluation.get('num_samples', '?')} samples",
        *(
            f"  {key:<16}{evaluation[key]:.4f}"
            for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1")
            if key in evaluation
        ),
    ]
    per_class = evaluation.get("per_class") or {}
    if per_class:
        width = max(len(name) for name in per_class)
        lines.append(f"  {'class':<{width}}  precision  recall  f1      support")
        for name, figures in per_class.items():
            lines.append(
                f"  {name:<{width}}  {figures['precision']:<9.4f}  {figures['recall']:<6.4f}  "
                f"{figures['f1']:<6.4f}  {figures['support']}"
            )
    return "\n".join(lines)
