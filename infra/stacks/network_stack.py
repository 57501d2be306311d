"""The isolated VPC every training job, endpoint and function runs in."""
from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.components.network import IsolatedNetwork
from infra.settings import EnvironmentSettings


class NetworkStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: EnvironmentSettings, key: kms.IKey,
                 description: str) -> None:
        super().__init__(scope, construct_id, description=description)
        network = IsolatedNetwork(self, "Network", cidr=settings.network.cidr, flow_log_key=key,
                                  flow_log_retention_days=settings.network.flow_log_retention_days,
                                  retain=settings.retain)
        self.vpc = network.vpc
        self.subnets = network.subnets
