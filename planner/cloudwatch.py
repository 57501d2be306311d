"""An endpoint's traffic from CloudWatch: `Invocations` (Sum per minute) of its variant.

GetMetricData returns at most 100,800 datapoints a call and pages with NextToken, and CloudWatch
keeps 1-minute datapoints for 15 days (both on
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html),
so `days` is at most 15. SageMaker publishes `Invocations` in AWS/SageMaker with the EndpointName and
VariantName dimensions (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from planner.traces import Trace, TraceError, from_counts

MAX_DAYS = 15


def read_invocations(
    client: Any, endpoint: str, days: int, variant: str = "AllTraffic", now: datetime | None = None
) -> Trace:
    """Per-minute invocations of `endpoint` over the last `days` days; `client` is a boto3
    CloudWatch client (`boto3.client("cloudwatch")`)."""
    if not 1 <= days <= MAX_DAYS:
        raise TraceError(
            f"--days {days}: CloudWatch keeps 1-minute datapoints for {MAX_DAYS} days; choose 1 to {MAX_DAYS}"
        )
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    query = {
        "Id": "invocations",
        "ReturnData": True,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/SageMaker",
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
            },
            "Period": 60,
            "Stat": "Sum",
        },
    }
    times: list[float] = []
    values: list[float] = []
    token = None
    while True:
        kwargs = {"MetricDataQueries": [query], "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
        if token:
            kwargs["NextToken"] = token
        page = client.get_metric_data(**kwargs)
        for result in page.get("MetricDataResults", []):
            times += [t.timestamp() for t in result.get("Timestamps", [])]
            values += list(result.get("Values", []))
        token = page.get("NextToken")
        if not token:
            break
    if not times:
        raise TraceError(
            f"endpoint {endpoint}: CloudWatch has no Invocations for variant {variant} in the last {days} days"
        )
    # Minutes without a datapoint had no invocations: fill them with zeros.
    grid = np.arange(start.timestamp(), end.timestamp(), 60.0)
    counts = np.zeros(len(grid))
    index = ((np.asarray(times) - grid[0]) // 60).astype(int)
    keep = (index >= 0) & (index < len(grid))
    np.add.at(counts, index[keep], np.asarray(values)[keep])
    return from_counts(f"cloudwatch-{endpoint}", grid, counts)
