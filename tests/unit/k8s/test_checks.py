"""The offline proofs of the manifests: kubernetes-validate --strict for two Kubernetes versions, KEDA's
ScaledObject schema, checkov's Kubernetes checks; and that each of them can fail."""

from __future__ import annotations

import copy
import os
import subprocess

import pytest
import yaml

from k8s.source import REPO_ROOT
from k8s.validate import validate_builtin, validate_folder, validate_keda

VERSIONS = ("1.31.0", "1.33.0")
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_manifest_validates_strictly_for_both_kubernetes_versions_and_keda(manifests, env):
    assert validate_folder(manifests[env].folder, VERSIONS) == {}
    kinds = sorted({d["kind"] for d in manifests[env].docs})
    autoscaler = "ScaledObject" if env == "dev" else "HorizontalPodAutoscaler"
    assert kinds == sorted(
        {
            "Namespace",
            "ServiceAccount",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "NetworkPolicy",
            autoscaler,
        }
    )


def test_strict_validation_refuses_an_unknown_field(manifests):
    deployment = copy.deepcopy(manifests["prod"].one("Deployment", "cnn"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["path"] = "/ping"
    assert validate_builtin(deployment, "1.33.0")


def test_keda_validation_refuses_an_unknown_field_a_wrong_type_and_missing_trigger_metadata(manifests):
    scaled = manifests["dev"].one("ScaledObject", "cnn")
    assert validate_keda(scaled) == []
    unknown = copy.deepcopy(scaled)
    unknown["spec"]["minReplicas"] = 0
    assert validate_keda(unknown) == ["spec.minReplicas: not in the schema"]
    wrong = copy.deepcopy(scaled)
    wrong["spec"]["maxReplicaCount"] = "two"
    assert validate_keda(wrong)
    missing = copy.deepcopy(scaled)
    del missing["spec"]["triggers"][1]["metadata"]["threshold"]
    assert validate_keda(missing) == ["spec.triggers[1].metadata: missing threshold"]
    nested = copy.deepcopy(scaled)
    nested["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["window"] = 1
    assert validate_keda(nested) == [
        "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.window: not in the schema"
    ]


def checkov(folder) -> subprocess.CompletedProcess[str]:
    assert CHECKOV.exists(), "checkov is installed by `make test` (mk/infra.mk) into .venv-checkov"
    return subprocess.run(
        [str(CHECKOV), "--framework", "kubernetes", "--compact", "--quiet", "--directory", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )


@pytest.mark.slow
def test_checkov_kubernetes_checks_pass_and_fail_a_privileged_pod(manifests, tmp_path):
    for env in ("dev", "prod"):
        result = checkov(manifests[env].folder)
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    deployment = copy.deepcopy(manifests["prod"].one("Deployment", "cnn"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(deployment))
    result = checkov(tmp_path)
    assert result.returncode == 1 and "CKV_K8S_22" in result.stdout, result.stdout[-3000:]


def test_every_checkov_skip_carries_its_reason(manifests):
    for env in ("dev", "prod"):
        for doc in manifests[env].docs:
            annotations = doc["metadata"].get("annotations", {})
            for key, value in annotations.items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = value.partition("=")
                    assert check.startswith("CKV") and len(reason) > 20, value
