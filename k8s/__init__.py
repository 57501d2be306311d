"""Kubernetes manifests for the serving containers, from the serving settings in cdk.json (cdk8s).

Walls (tests/unit/test_walls.py): of infra it imports only the CDK-free settings modules
(`infra.settings`, `infra.capacity_plan`, `infra.serving_modes`), so the manifests and the SageMaker
stacks read one validated copy of the settings; no `aws_cdk`, no `training`, no `inference`. The image
reference per model kind is computed on the infra side (`python -m infra.images`) and passed in.
"""
