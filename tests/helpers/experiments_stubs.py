"""AWS stubbed at the botocore level for the experiments tests: every client the SDK or the package
creates from the session is a real botocore client with an active `Stubber`, so an unexpected call
fails the test, and the requests are the ones botocore would have sent."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.response import StreamingBody
from botocore.stub import Stubber

REGION = "eu-west-1"
ACCOUNT = "111122223333"
ENV = "dev"
DATA_BUCKET = f"elasticml-dev-data-{ACCOUNT}-{REGION}"
ARTIFACT_BUCKET = f"elasticml-dev-artifacts-{ACCOUNT}-{REGION}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-123456789012"
SUBNETS = ["subnet-0aaa1111", "subnet-0bbb2222"]
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/cdk-hnb659fds-container-assets-{ACCOUNT}-{REGION}"
_LOADER = botocore.loaders.create_loader()
NOW = dt.datetime(2026, 11, 28, 11, 0, tzinfo=dt.UTC)


def outputs_for(model: str) -> dict[str, dict[str, str]]:
    m = model.capitalize()
    return {
        "storage": {"DataBucketName": DATA_BUCKET, "ArtifactBucketName": ARTIFACT_BUCKET, "KeyArn": KEY_ARN},
        "network": {"IsolatedSubnetIds": ",".join(SUBNETS)},
        "training": {
            f"{m}TrainingImageUri": f"{ECR}:{model}-train",
            f"{m}TrainingRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{m}Train",
            f"{m}TrainingSecurityGroupId": f"sg-{model}train",
            f"{m}ModelPackageGroup": f"elasticml-dev-{model}",
            f"{m}InferenceImageUri": f"{ECR}:{model}-serve",
            f"{m}ExperimentModelRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{m}Serve",
            f"{m}ExperimentSecurityGroupId": f"sg-{model}serve",
            f"{m}StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:elasticml-dev-{model}",
        },
    }


class StubbedAws:
    """A boto3 session whose clients are created once per service and stubbed."""

    SERVICES = (
        "cloudformation",
        "s3",
        "sagemaker",
        "sagemaker-runtime",
        "runtime.sagemaker",
        "sagemaker-featurestore-runtime",
        "sagemaker-metrics",
        "iam",
        "sts",
        "logs",
    )

    def __init__(self) -> None:
        core = botocore.session.Session()
        core.register_component("data_loader", _LOADER)  # parse each service model once per test run
        self.session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION, botocore_session=core
        )
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}
        self.sent: dict[str, list[tuple[str, dict]]] = {}
        create = self.session.client

        def client(service_name: str, region_name: str | None = None, *_: Any, **__: Any):
            if service_name not in self.clients:
                c = create(service_name, region_name=region_name or REGION)
                c.meta.events.register("before-parameter-build", self._recorder(service_name))
                self.clients[service_name] = c
                self.stubbers[service_name] = Stubber(c)
                self.stubbers[service_name].activate()
            return self.clients[service_name]

        self.session.client = client
        for service in self.SERVICES:
            client(service)

    def _recorder(self, service: str):
        def record(params, model, **_: Any) -> None:
            self.sent.setdefault(service, []).append((model.name, json.loads(json.dumps(params, default=str))))

        return record

    def __getitem__(self, service: str) -> Stubber:
        return self.stubbers[service]

    def requests(self, service: str, operation: str) -> list[dict]:
        return [params for name, params in self.sent.get(service, []) if name == operation]

    def assert_all_used(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()

    # --- canned responses -------------------------------------------------------------------------

    def stacks(
        self,
        model: str = "cnn",
        *,
        drop: tuple[str, str] | None = None,
        only: tuple[str, ...] = ("storage", "network", "training"),
    ) -> None:
        for part, outputs in outputs_for(model).items():
            if part not in only:
                continue
            if drop and drop[0] == part:
                outputs = {k: v for k, v in outputs.items() if k != drop[1]}
            name = f"elasticml-{ENV}-{part}"
            self["cloudformation"].add_response(
                "describe_stacks",
                {
                    "Stacks": [
                        {
                            "StackName": name,
                            "CreationTime": NOW,
                            "StackStatus": "CREATE_COMPLETE",
                            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                        }
                    ]
                },
                {"StackName": name},
            )

    def stack_missing(self, name: str, *, others: list[str]) -> None:
        self["cloudformation"].add_client_error(
            "describe_stacks", "ValidationError", f"Stack with id {name} does not exist", 400, {"StackName": name}
        )
        self["cloudformation"].add_response(
            "list_stacks",
            {
                "StackSummaries": [
                    {"StackName": s, "CreationTime": NOW, "StackStatus": "CREATE_COMPLETE"} for s in others
                ]
            },
        )

    def prefix_exists(self, bucket: str, prefix: str, count: int = 1) -> None:
        self["s3"].add_response(
            "list_objects_v2", {"KeyCount": count}, {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1}
        )

    def training_job(self, name: str, status: str = "InProgress", *, model: str = "cnn", failure: str = "") -> dict:
        job = {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}",
            "ModelArtifacts": {
                "S3ModelArtifacts": f"s3://{ARTIFACT_BUCKET}/training/{model}/{name}/output/model.tar.gz"
            },
            "TrainingJobStatus": status,
            "SecondaryStatus": "Completed" if status == "Completed" else "Training",
            "HyperParameters": {"model": model},
            "AlgorithmSpecification": {"TrainingImage": f"{ECR}:{model}-train", "TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            "CreationTime": NOW,
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/Train",
            "OutputDataConfig": {"S3OutputPath": f"s3://{ARTIFACT_BUCKET}/training/{model}/"},
        }
        if failure:
            job["FailureReason"] = failure
        return job


def output_tarball(evaluation: dict) -> bytes:
    payload = json.dumps(evaluation).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("evaluation.json")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def streaming_body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


EVALUATION = {
    "split": "test",
    "num_samples": 500,
    "accuracy": 0.9123,
    "macro_precision": 0.9,
    "macro_recall": 0.89,
    "macro_f1": 0.8951,
    "class_names": ["cat", "dog"],
    "per_class": {
        "cat": {"precision": 0.92, "recall": 0.9, "f1": 0.91, "support": 250},
        "dog": {"precision": 0.88, "recall": 0.88, "f1": 0.88, "support": 250},
    },
    "confusion_matrix": [[225, 25], [30, 220]],
}
