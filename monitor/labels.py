"""Ground truth that arrives after the fact: a file keyed by inference id (docs/monitoring.md).

CSV with a header `inference_id,label`, or JSON Lines `{"inference_id": "...", "label": "cat"}`. The label
is a class name or its index. A request that held several inputs has ids `<inference id>:<row>`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


class LabelsError(Exception):
    """The labels file cannot be read; the message names the file and line."""


def read_labels(path: Path, class_names: list[str]) -> dict[str, int]:
    index = {name: i for i, name in enumerate(class_names)}

    def to_index(value: object, where: str) -> int:
        text = str(value)
        if text in index:
            return index[text]
        if text.isdigit() and int(text) < len(class_names):
            return int(text)
        raise LabelsError(f"{where}: label {text!r} is not one of the model's classes or their indices")

    labels: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LabelsError(f"{path}: unreadable: {error}") from error
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        if not rows.fieldnames or not {"inference_id", "label"} <= set(rows.fieldnames):
            raise LabelsError(f"{path}: needs a header with inference_id and label, got {rows.fieldnames}")
        for number, row in enumerate(rows, start=2):
            labels[row["inference_id"]] = to_index(row["label"], f"{path}:{number}")
        return labels
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key, value = record["inference_id"], record["label"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise LabelsError(f"{path}:{number}: not a JSON object with inference_id and label ({error})") from None
        labels[str(key)] = to_index(value, f"{path}:{number}")
    return labels
