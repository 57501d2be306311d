"""The isolated VPC every training job, endpoint and function runs in."""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

import shared_names as names
from infra.components.network import IsolatedNetwork
from infra.settings import EnvironmentSettings
from infra.stacks.storage_stack import bucket_name


class NetworkStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: EnvironmentSettings, key: kms.IKey, description: str
    ) -> None:
        super().__init__(scope, construct_id, description=description)
        network = IsolatedNetwork(
            self,
            "Network",
            cidr=settings.network.cidr,
            flow_log_key=key,
            flow_log_retention_days=settings.network.flow_log_retention_days,
            retain=settings.retain,
            bucket_names=[bucket_name(settings, "data"), bucket_name(settings, "artifacts")],
        )
        self.vpc = network.vpc
        self.s3_prefix_list_id = network.s3_prefix_list_id
        self.subnets = network.subnets
        CfnOutput(
            self,
            names.NETWORK_OUTPUTS["subnet_ids"],
            value=Fn.join(",", self.vpc.select_subnets(subnet_type=self.subnets.subnet_type).subnet_ids),
            description="Comma-separated isolated subnets that training jobs and endpoints run in",
        )
