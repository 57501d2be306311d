"""Before a training job starts: every channel's S3 prefix holds data, or the execution fails saying which.

SageMaker refuses a job whose `S3Prefix` channel matches no object: CreateTrainingJob answers
ValidationException "No S3 objects found under S3 URL ... given in input data source" (SageMaker uses
"all objects that match the specified key name prefix":
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html; the error as users
meet it: https://github.com/aws/amazon-sagemaker-examples/issues/2267). Step Functions reports that as
`SageMaker.AmazonSageMakerException`, the error the training task retries for throttling, so an
empty channel would be retried for many minutes before the execution failed. One `ListObjectsV2` call per
channel (`MaxKeys` 1; `KeyCount` is the number of keys returned:
https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html), through Step Functions' AWS
SDK integration (`arn:aws:states:::aws-sdk:s3:listObjectsV2`, parameters in PascalCase:
https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html), fails the
execution at once with `ChannelEmpty` and a cause that names the prefix and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

# What fills each channel, for the failure's cause.
HOW_TO_FILL = {
    "synthetic": "generate it with `make synthetic-audio` (python -m training.synthesize) and upload the folder",
}
RESULT_PATH = "$.channel_check"
DEFAULT_HOW = "upload the data in a layout of the README's 'Train on your own data'"


def empty_channel_cause(model: str, channel: str, data_prefix: str) -> str:
    how = HOW_TO_FILL.get(channel, DEFAULT_HOW)
    return (
        f"The {channel} channel of the {model} training job is empty: no object under "
        f"{data_prefix}/{channel}/ in the data bucket. {how[0].upper()}{how[1:]} to that prefix, "
        f"or remove '{channel}' from training.{model}.channels in cdk.json and deploy again."
    )


class ChannelCheck(Construct):
    """One list-then-choose pair of states per channel, chained in order; `start` is the first state and
    the last choice continues to the state given to `then`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: str,
        channels: Sequence[str],
        bucket: s3.IBucket,
        data_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        if not channels:
            raise ValueError("ChannelCheck needs at least one channel")
        stack = Stack.of(self)
        could_not_list = sfn.Fail(self, "ChannelCheckFailed", error="ChannelCheckFailed", cause_path="$.error.Cause")
        self._choices: list[sfn.Choice] = []
        states: list[sfn.State] = []
        for channel in channels:
            name = channel.capitalize()
            listing = sfn.CustomState(
                self,
                f"List{name}Channel",
                state_json={
                    "Type": "Task",
                    "Resource": f"arn:{stack.partition}:states:::aws-sdk:s3:listObjectsV2",
                    "Parameters": {"Bucket": bucket.bucket_name, "Prefix": f"{data_prefix}/{channel}/", "MaxKeys": 1},
                    "ResultSelector": {"KeyCount.$": "$.KeyCount"},
                    # One top-level field that each check overwrites (its choice reads it at once).
                    "ResultPath": RESULT_PATH,
                },
            )
            listing.add_catch(could_not_list, errors=["States.ALL"], result_path="$.error")
            empty = sfn.Fail(
                self,
                f"{name}ChannelEmpty",
                error="ChannelEmpty",
                cause=empty_channel_cause(model, channel, data_prefix),
            )
            choice = sfn.Choice(self, f"{name}ChannelHasData").when(
                sfn.Condition.number_equals(f"{RESULT_PATH}.KeyCount", 0), empty
            )
            if self._choices:
                self._choices[-1].otherwise(listing)
            states.append(listing)
            listing.next(choice)
            self._choices.append(choice)
        self.start: sfn.State = states[0]
        # ListObjectsV2 needs s3:ListBucket on the bucket; the condition keeps it to this model's prefix.
        self.policy_statements = [
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{data_prefix}/*"]}},
            )
        ]

    def then(self, next_state: sfn.IChainable) -> sfn.State:
        """Continue to `next_state` once every channel holds data; returns the first state of the check."""
        self._choices[-1].otherwise(next_state)
        return self.start
