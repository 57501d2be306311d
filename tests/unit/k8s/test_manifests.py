"""What the manifests say, per model and environment: the pod's security, size, probes and drain, its
network, and which autoscaler scales it."""

from __future__ import annotations

import json
import math

import pytest

from infra.settings import SettingsError
from k8s import pod
from k8s.chart import MODEL_DIR, POD_IDENTITY_AGENT
from k8s.source import read_context
from tests.unit.k8s.conftest import write_manifests

MODELS = ("cnn", "mlp")
ENVS = ("dev", "prod")


def containers(deployment: dict) -> list[dict]:
    spec = deployment["spec"]["template"]["spec"]
    return spec["initContainers"] + spec["containers"]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_every_container_runs_non_root_read_only_with_no_capabilities_and_runtime_default_seccomp(
    manifests, env, model
):
    deployment = manifests[env].one("Deployment", model)
    pod_context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] == pod.UID > 10000
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    for container in containers(deployment):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["runAsUser"] == pod.UID
        # every writable path is an emptyDir: the root file system is read-only
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        for mount in container["volumeMounts"]:
            assert "emptyDir" in volumes[mount["name"]], mount


def test_pods_are_sized_as_what_sagemaker_scales_with_requests_equal_to_limits(manifests):
    # prod (realtime): an instance; the CNN on ml.c5.xlarge (4 vCPU, 8 GiB), the MLP on ml.c5.large
    # (2 vCPU, 4 GiB). dev (scale-to-zero): an inference component copy, 1 core and 1024 MB by default.
    expected = {("prod", "cnn"): ("4", "8Gi"), ("prod", "mlp"): ("2", "4Gi"), ("dev", "cnn"): ("1", "1Gi")}
    for (env, model), (cpu, memory) in expected.items():
        deployment = manifests[env].one("Deployment", model)
        for container in containers(deployment):
            resources = container["resources"]
            assert resources["requests"] == resources["limits"] == {"cpu": cpu, "memory": memory}
        env_vars = {e["name"]: e["value"] for e in containers(deployment)[1]["env"]}
        assert env_vars["INFERENCE_NUM_THREADS"] == cpu


def test_probes_hit_ping_and_the_startup_probe_covers_the_measured_cold_start(manifests):
    for model in MODELS:
        serve = manifests["prod"].one("Deployment", model)["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert serve[probe]["httpGet"] == {"path": "/ping", "port": "http"}
            assert serve[probe]["timeoutSeconds"] == pod.PROBE_TIMEOUT_S
        startup = serve["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        assert budget >= pod.COLD_START_MARGIN * pod.COLD_START_S[model]
        assert budget <= 150  # still a probe, not a wait without end


def test_pre_stop_and_grace_period_cover_the_servers_drain(manifests):
    spec = manifests["prod"].one("Deployment", "cnn")["spec"]["template"]["spec"]
    serve = spec["containers"][0]
    assert serve["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", str(pod.PRESTOP_S)]}}
    assert spec["terminationGracePeriodSeconds"] == pod.PRESTOP_S + pod.DRAIN_S + pod.EXIT_MARGIN_S


def test_the_init_container_fetches_the_model_version_into_the_model_dir(manifests):
    spec = manifests["dev"].one("Deployment", "mlp")["spec"]["template"]["spec"]
    fetch = spec["initContainers"][0]
    source = fetch["command"][fetch["command"].index("--source") + 1]
    assert source.startswith("s3://elasticml-dev-artifacts-111111111111-eu-west-1/training/mlp/")
    assert fetch["command"][:4] == ["python", "-m", "inference", "fetch-model"]
    assert {"name": "model", "mountPath": MODEL_DIR} in fetch["volumeMounts"]
    assert {"name": "model", "mountPath": MODEL_DIR, "readOnly": True} in spec["containers"][0]["volumeMounts"]
    assert spec["serviceAccountName"] == "elasticml-dev-mlp"


def test_network_policy_admits_only_the_gateway_and_lets_out_only_dns_s3_and_the_pod_identity_agent(manifests):
    policy = manifests["prod"].one("NetworkPolicy", "cnn")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"elasticml.io/gateway": "true"}}}],
            "ports": [{"port": "http", "protocol": "TCP"}],
        }
    ]
    egress = {json.dumps(rule["to"], sort_keys=True): rule["ports"] for rule in policy["egress"]}
    assert len(egress) == 3
    s3 = [{"ipBlock": {"cidr": "10.41.0.0/16"}}]  # prod's VPC CIDR (cdk.json), where the S3 endpoint lives
    assert egress[json.dumps(s3, sort_keys=True)] == [{"port": 443, "protocol": "TCP"}]
    agent = [{"ipBlock": {"cidr": POD_IDENTITY_AGENT}}]
    assert egress[json.dumps(agent, sort_keys=True)] == [{"port": 80, "protocol": "TCP"}]


def test_prod_keeps_replicas_and_scales_on_cpu_with_an_hpa_whose_behaviour_follows_the_cooldowns(manifests):
    prod = manifests["prod"]
    assert prod.of("ScaledObject") == []
    hpa = prod.one("HorizontalPodAutoscaler", "cnn")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)  # cdk.json prod.serving.cnn
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600  # scale_in_cooldown_s
    assert hpa["behavior"]["scaleUp"]["policies"][0]["periodSeconds"] == 60  # scale_out_cooldown_s
    assert prod.one("PodDisruptionBudget", "cnn")["spec"]["maxUnavailable"] == 1


def test_dev_scales_to_zero_with_keda_woken_by_requests_and_no_second_hpa(manifests):
    dev = manifests["dev"]
    assert dev.of("HorizontalPodAutoscaler") == []
    scaled = dev.one("ScaledObject", "cnn")["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 2)
    assert [t["type"] for t in scaled["triggers"]] == ["cpu", "prometheus"]
    prometheus = scaled["triggers"][1]["metadata"]
    assert prometheus["activationThreshold"] == "0"
    assert "elasticml-dev-cnn" in prometheus["query"]
    assert (
        scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
        == 300
    )


def test_the_plans_scheduled_minimums_become_keda_cron_windows(tmp_path):
    context = read_context()
    plans = tmp_path / "plans"
    plans.mkdir()
    plan = {
        "schema": 1,
        "env": "prod",
        "model": "cnn",
        "instance_type": "ml.c5.xlarge",
        "policy": "predictive",
        "target_tracking": {
            "metric": "SageMakerVariantInvocationsPerInstance",
            "target_value": 6000.0,
            "scale_in_cooldown_s": 900,
            "scale_out_cooldown_s": 120,
        },
        "min_capacity": 2,
        "max_capacity": 8,
        "scheduled_actions": [
            {"name": "raise-mon", "schedule": "cron(45 6 ? * MON *)", "min_capacity": 5},
            {"name": "lower-mon", "schedule": "cron(0 20 ? * MON *)", "min_capacity": 2},
        ],
    }
    (plans / "prod-cnn.json").write_text(json.dumps(plan))
    found = write_manifests(tmp_path / "out", "prod", context={**context, "capacity_plans_dir": str(plans)})
    assert found.of("HorizontalPodAutoscaler", "cnn") == []
    scaled = found.one("ScaledObject", "cnn")["spec"]
    assert scaled["minReplicaCount"] == 2 and scaled["cooldownPeriod"] == 900
    cron = [t for t in scaled["triggers"] if t["type"] == "cron"]
    assert cron == [
        {
            "type": "cron",
            "name": "raise-mon",
            "metadata": {"timezone": "Etc/UTC", "start": "45 6 * * MON", "end": "0 20 * * MON", "desiredReplicas": "5"},
        }
    ]
    assert [t["type"] for t in scaled["triggers"]] == ["cpu", "cron"]  # min 2: no wake-up trigger needed


def test_a_gpu_instance_type_has_no_pod_size(tmp_path):
    context = read_context()
    context["environments"]["prod"]["serving"]["cnn"]["instance_type"] = "ml.g5.xlarge"
    context["serving_capacity_file"] = str(tmp_path / "none.json")
    with pytest.raises(SettingsError, match="ml.g5.xlarge.*no CPU pod size"):
        write_manifests(tmp_path / "out", "prod", context=context)


def test_startup_budget_arithmetic():
    assert math.ceil(pod.COLD_START_S["mlp"] * pod.COLD_START_MARGIN / pod.STARTUP_PERIOD_S) == 60
