"""The CloudWatch trace reader against botocore's Stubber (no AWS account here)."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from planner.cloudwatch import read_invocations
from planner.traces import TraceError

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def client():
    return boto3.client("cloudwatch", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def expected_params(token=None):
    params = {
        "MetricDataQueries": [
            {
                "Id": "invocations",
                "ReturnData": True,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "Invocations",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": "elasticml-dev-cnn"},
                            {"Name": "VariantName", "Value": "AllTraffic"},
                        ],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        "StartTime": NOW - timedelta(days=1),
        "EndTime": NOW,
        "ScanBy": "TimestampAscending",
    }
    if token:
        params["NextToken"] = token
    return params


def page(minutes, values, token=None):
    out = {
        "MetricDataResults": [
            {
                "Id": "invocations",
                "Label": "Invocations",
                "StatusCode": "Complete",
                "Timestamps": [NOW - timedelta(days=1) + timedelta(minutes=m) for m in minutes],
                "Values": values,
            }
        ]
    }
    if token:
        out["NextToken"] = token
    return out


def test_pages_are_joined_and_missing_minutes_are_zero():
    cw = client()
    with Stubber(cw) as stub:
        stub.add_response("get_metric_data", page([0, 1], [10.0, 20.0], token="t1"), expected_params())
        stub.add_response("get_metric_data", page([5], [7.0]), expected_params("t1"))
        trace = read_invocations(cw, "elasticml-dev-cnn", days=1, now=NOW)
        stub.assert_no_pending_responses()
    assert trace.minutes == 1440
    assert trace.per_minute[:6].tolist() == [10.0, 20.0, 0.0, 0.0, 0.0, 7.0]
    assert trace.per_minute.sum() == 37.0
    assert trace.start == (NOW - timedelta(days=1)).timestamp()


def test_no_datapoints_is_a_clear_error():
    cw = client()
    with Stubber(cw) as stub:
        stub.add_response("get_metric_data", page([], []), expected_params())
        with pytest.raises(TraceError, match="no Invocations for variant AllTraffic"):
            read_invocations(cw, "elasticml-dev-cnn", days=1, now=NOW)


def test_more_days_than_cloudwatch_keeps_minutes_for_is_refused():
    with pytest.raises(TraceError, match="15 days"):
        read_invocations(client(), "e", days=30, now=NOW)


def test_an_aws_error_surfaces():
    cw = client()
    with Stubber(cw) as stub:
        stub.add_client_error("get_metric_data", "AccessDenied", "not allowed", expected_params=expected_params())
        with pytest.raises(ClientError, match="AccessDenied"):
            read_invocations(cw, "elasticml-dev-cnn", days=1, now=NOW)
