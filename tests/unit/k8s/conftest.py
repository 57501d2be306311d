"""Fixtures for the Kubernetes manifests: each environment's manifests written once per session, as
`make k8s` writes them (the images as `python -m infra.images` names them), and read back as YAML."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from cdk8s import App, YamlOutputType

from k8s.chart import Options, build
from k8s.source import environment_settings

DATA_URL = "s3://elasticml-{env}-artifacts-{account}-eu-west-1/training/{model}/job-7/output/model.tar.gz"
ACCOUNTS = {"dev": "111111111111", "prod": "222222222222"}
IMAGES = {
    "cnn": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/cdk-hnb659fds-container-assets-111111111111-eu-west-1:abc",
    "mlp": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/cdk-hnb659fds-container-assets-111111111111-eu-west-1:abc",
}


def versions(env: str) -> dict[str, str]:
    return {
        f"{env}:{model}_model_data_url": DATA_URL.format(env=env, account=ACCOUNTS[env], model=model)
        for model in ("cnn", "mlp")
    }


@dataclass
class Manifests:
    folder: Path
    docs: list[dict[str, Any]]

    def of(self, kind: str, model: str | None = None) -> list[dict[str, Any]]:
        return [
            d for d in self.docs if d["kind"] == kind and (model is None or d["metadata"]["name"].endswith(f"-{model}"))
        ]

    def one(self, kind: str, model: str) -> dict[str, Any]:
        found = self.of(kind, model)
        assert len(found) == 1, (kind, model, found)
        return found[0]


def write_manifests(folder: Path, env: str, *, context: dict | None = None, images: dict | None = None) -> Manifests:
    settings = environment_settings(env, context=context, extra=versions(env))
    app = App(outdir=str(folder), yaml_output_type=YamlOutputType.FILE_PER_CHART)
    build(app, settings, images or IMAGES, Options())
    app.synth()
    docs = [d for p in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    return Manifests(folder, docs)


@pytest.fixture(scope="session")
def manifests(tmp_path_factory) -> dict[str, Manifests]:
    return {env: write_manifests(tmp_path_factory.mktemp(f"k8s-{env}"), env) for env in ("dev", "prod")}
