"""SageMaker MetricDefinitions from the training side's data file (the same regexes it logs for), read and
checked once for the pipeline's jobs (`infra/components/training_job.py`) and the experiments' jobs
(`experiments/`). CDK-free, so the experiments' venv can import it.

A training job takes at most 40 metric definitions (`MetricDefinitions`, "Maximum number of 40 items":
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AlgorithmSpecification.html).
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.errors import SettingsError

METRIC_DEFINITIONS_FILE = Path(__file__).resolve().parents[1] / "training" / "metric_definitions.json"
MAX_METRIC_DEFINITIONS = 40


def load_metric_definitions(path: Path = METRIC_DEFINITIONS_FILE) -> list[dict[str, str]]:
    """The file's definitions: 1 to 40 objects of exactly `Name` and `Regex`, the names unique."""
    try:
        definitions = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(definitions, list) or not 0 < len(definitions) <= MAX_METRIC_DEFINITIONS:
        raise SettingsError(f"{path}: expected a list of 1 to {MAX_METRIC_DEFINITIONS} metric definitions")
    for item in definitions:
        if not isinstance(item, dict) or set(item) != {"Name", "Regex"}:
            raise SettingsError(f"{path}: each metric definition needs exactly Name and Regex, got {item!r}")
    names = [d["Name"] for d in definitions]
    if len(set(names)) != len(names):
        raise SettingsError(f"{path}: duplicate metric names in {names}")
    return definitions
