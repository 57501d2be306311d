"""The values cdk.json settings may take that are not the project's own names: AWS's tables and formats.

The project's names (model kinds, channels, instance sizes) live in `shared_names.py`.
"""

from __future__ import annotations

import re

REMOVAL_POLICIES = ("destroy", "retain")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
TRAINING_INSTANCE_FAMILIES = (
    "m5",
    "m6i",
    "m7i",
    "c5",
    "c6i",
    "c7i",
    "r5",
    "g4dn",
    "g5",
    "g6",
    "p3",
    "p4d",
    "p5",
    "trn1",
)
SERVING_INSTANCE_FAMILIES = ("t2", "m5", "m6i", "m7i", "c5", "c6i", "c7i", "r5", "g4dn", "g5", "g6", "inf2")
PROJECT_NAME = re.compile(r"[a-z][a-z0-9]{1,15}")
ENV_NAME = re.compile(r"[a-z][a-z0-9]{1,9}")
# The VPC's CIDR: IPv4, a prefix length from /16 to /24.
VPC_CIDR = re.compile(r"(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-4])")
ACCOUNT_ID = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
