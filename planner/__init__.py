"""Capacity planning: traffic traces -> simulated SageMaker autoscaling -> plan files that infra reads.

Pure Python with numpy and matplotlib: no torch, no tensorflow, no CDK (docs/architecture.md's walls).
"""
