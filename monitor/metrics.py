"""The CloudWatch figures of one report, in PutMetricData's `MetricData` shape (`metrics.json`).

The scheduled job's state machine reads this file and passes it to PutMetricData itself (infra
`MonitorSchedule`), so the processing container needs no CloudWatch endpoint in the VPC.
Shape: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
(MetricName, Dimensions, Value, Unit). Only a report with status `ok` yields test figures; every report
yields `WindowSize` and `WindowUsable` (0 or 1), so an alarm on a missing or bad window can be set.
"""

from __future__ import annotations

import math
from typing import Any

METRICS_JSON = "metrics.json"
NAMESPACE = "ElasticML/Monitor"
TEST_METRICS = {
    "embedding_mmd": "EmbeddingDriftPValue",
    "softmax_ks": "SoftmaxDriftPValue",
    "class_mix_chi2": "ClassMixPValue",
    "input_statistics_ks": "InputStatisticsPValue",
}


def metric_data(report: dict[str, Any], model: str) -> list[dict[str, Any]]:
    dimensions = [{"Name": "Model", "Value": model}]

    def datum(name: str, value: float, unit: str = "None") -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit}

    window = report.get("window") or {}
    data = [
        datum("WindowSize", window.get("rows", window.get("captures", 0)), "Count"),
        datum("WindowUsable", 1 if report["status"] == "ok" else 0, "Count"),
    ]
    if report["status"] != "ok":
        return data
    for test, metric in TEST_METRICS.items():
        if test in report["tests"]:
            data.append(datum(metric, report["tests"][test]["p_value"]))
    data.append(datum("Drift", 1 if report["drift"] else 0, "Count"))
    distance = report["tests"]["class_mix_chi2"]["details"]["total_variation_distance"]
    data.append(datum("ClassMixDistance", distance))
    quality = report.get("quality") or {}
    for key, metric in (("accuracy", "Accuracy"), ("macro_f1", "MacroF1")):
        value = quality.get(key)
        if isinstance(value, float) and math.isfinite(value):
            data.append(datum(metric, value))
    return data
