"""One cdk8s chart per model: ServiceAccount, Deployment (with the init container that fetches the
model), Service, PodDisruptionBudget, NetworkPolicy and its autoscaler; and a chart for the namespace.

The autoscaler: a HorizontalPodAutoscaler on CPU where the model keeps at least one replica and has
no scheduled minimums; else a KEDA ScaledObject (scale to zero, the planner's scheduled minimums as
cron windows), which creates and owns the HPA itself with the same CPU target and behaviour. Never
both: KEDA refuses a workload another HPA already scales (https://keda.sh/docs/2.16/concepts/scaling-deployments/).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdk8s import ApiObject, App, Chart, JsonPatch
from cdk8s_plus_33 import k8s
from constructs import Construct

from infra.settings import EnvironmentSettings, ServingSettings
from k8s import pod
from k8s.schedule import TIMEZONE, cron_windows

MODEL_DIR = "/opt/ml/model"  # SM_MODEL_DIR: where SageMaker unpacks model.tar.gz
TMP_DIR = "/tmp"
GATEWAY_LABEL = ("elasticml.io/gateway", "true")
# EKS Pod Identity's agent on every node (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html).
POD_IDENTITY_AGENT = "169.254.170.23/32"
KEDA_API = "keda.sh/v1alpha1"


@dataclass(frozen=True)
class Options:
    """What the cluster decides rather than cdk.json: where S3 is reachable and where Prometheus is."""

    # Private IPs of the S3 interface endpoint (AWS PrivateLink for Amazon S3): NetworkPolicy matches
    # addresses, and S3's public ranges are not fixed. Default: the environment's VPC CIDR.
    s3_endpoint_cidrs: tuple[str, ...] = ()
    prometheus_url: str = "http://prometheus-server.monitoring.svc.cluster.local"
    # Requests per second arriving for the model, as the gateway reports them; {service} and
    # {namespace} are filled in. Default: Envoy Gateway's upstream request counter.
    request_rate_query: str = (
        'sum(rate(envoy_cluster_upstream_rq_total{{envoy_cluster_name=~"httproute/{namespace}/{service}/.*"}}[1m]))'
    )


def names(settings: EnvironmentSettings, model: str) -> dict[str, str]:
    return {"namespace": settings.prefix, "app": f"{settings.prefix}-{model}"}


def container_environment(serving: ServingSettings, plan: pod.PodPlan) -> dict[str, str]:
    """The serving container's environment: what the SageMaker model gets (the image's defaults for
    SM_MODEL_DIR and the port, SAGEMAKER_MAX_PAYLOAD_IN_MB in async mode), plus the thread count a
    SageMaker instance implies (its vCPUs) and a pod must be told."""
    env = {
        "SM_MODEL_DIR": MODEL_DIR,
        "SAGEMAKER_BIND_TO_PORT": str(pod.PORT),
        "INFERENCE_NUM_THREADS": str(plan.threads),
    }
    max_payload = getattr(serving.mode_options, "max_payload_mb", None)
    if max_payload is not None:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(max_payload)
    return env


def model_source(settings: EnvironmentSettings, serving: ServingSettings) -> tuple[str, bool]:
    """The model.tar.gz the init container fetches, and whether it is a placeholder (no version given)."""
    if serving.version.model_data_url:
        return serving.version.model_data_url, False
    return f"s3://{settings.artifact_bucket()}/training/{serving.model}/JOB/output/model.tar.gz", True


def _security_context() -> k8s.SecurityContext:
    return k8s.SecurityContext(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=pod.UID,
        run_as_group=pod.UID,
        capabilities=k8s.Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
    )


def _resources(plan: pod.PodPlan) -> k8s.ResourceRequirements:
    amounts = {
        "cpu": k8s.Quantity.from_string(plan.cpu),
        "memory": k8s.Quantity.from_string(plan.memory),
    }
    return k8s.ResourceRequirements(requests=amounts, limits=amounts)


def _ping(period_s: int, failures: int) -> k8s.Probe:
    return k8s.Probe(
        http_get=k8s.HttpGetAction(path="/ping", port=k8s.IntOrString.from_string("http")),
        period_seconds=period_s,
        timeout_seconds=pod.PROBE_TIMEOUT_S,
        failure_threshold=failures,
    )


def behaviour(plan: pod.PodPlan) -> dict:
    """HPA behaviour from the planner's cooldowns: scale out to any size once per scale-out cooldown
    (target tracking is proportional), scale in only after the scale-in cooldown of low readings."""
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": plan.max_replicas, "periodSeconds": plan.scale_up_period_s}],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": plan.scale_down_window_s,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": plan.scale_down_window_s}],
        },
    }


def api_object(scope: Construct, construct_id: str, *, api_version: str, kind: str, name: str, spec: dict) -> ApiObject:
    """An object of a kind with no imported types here (KEDA's), or one written as a plain dict."""
    obj = ApiObject(scope, construct_id, api_version=api_version, kind=kind, metadata={"name": name})
    obj.add_json_patch(JsonPatch.add("/spec", spec))
    return obj


def uses_keda(serving: ServingSettings) -> bool:
    return serving.min_capacity == 0 or bool(serving.plan and serving.plan.scheduled_actions)


class NamespaceChart(Chart):
    """The environment's namespace, enforcing the Pod Security Standard `restricted`
    (https://kubernetes.io/docs/concepts/security/pod-security-admission/)."""

    def __init__(self, scope: Construct, chart_id: str, *, namespace: str) -> None:
        super().__init__(scope, chart_id)
        levels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
        k8s.KubeNamespace(self, "Namespace", metadata=k8s.ObjectMeta(name=namespace, labels=levels))


class ServingChart(Chart):
    def __init__(
        self,
        scope: Construct,
        chart_id: str,
        *,
        settings: EnvironmentSettings,
        serving: ServingSettings,
        image: str,
        options: Options,
    ) -> None:
        n = names(settings, serving.model)
        labels = {
            "app.kubernetes.io/name": n["app"],
            "app.kubernetes.io/part-of": settings.project,
            "app.kubernetes.io/component": "serving",
            "elasticml.io/model": serving.model,
        }
        super().__init__(scope, chart_id, namespace=n["namespace"], labels=labels)
        plan = pod.pod_plan(serving)
        self.plan = plan
        selector = {"app.kubernetes.io/name": n["app"]}
        source, placeholder = model_source(settings, serving)
        meta = k8s.ObjectMeta(name=n["app"])

        # EKS Pod Identity: an association (aws eks create-pod-identity-association) binds this service
        # account to the model's IAM role; the pods need no annotation (docs/kubernetes.md has IRSA).
        k8s.KubeServiceAccount(self, "ServiceAccount", metadata=meta, automount_service_account_token=False)

        volumes = [
            k8s.Volume(name="model", empty_dir=k8s.EmptyDirVolumeSource(size_limit=k8s.Quantity.from_string("2Gi"))),
            k8s.Volume(name="tmp", empty_dir=k8s.EmptyDirVolumeSource(size_limit=k8s.Quantity.from_string("1Gi"))),
        ]
        fetch = k8s.Container(
            name="fetch-model",
            image=image,
            image_pull_policy="Always",
            command=["python", "-m", "inference", "fetch-model", "--source", source, "--model-dir", MODEL_DIR],
            env=[k8s.EnvVar(name="TMPDIR", value=TMP_DIR)],
            resources=_resources(plan),
            security_context=_security_context(),
            volume_mounts=[
                k8s.VolumeMount(name="model", mount_path=MODEL_DIR),
                k8s.VolumeMount(name="tmp", mount_path=TMP_DIR),
            ],
        )
        server = k8s.Container(
            name="serve",
            image=image,
            image_pull_policy="Always",
            args=["serve"],
            env=[k8s.EnvVar(name=k, value=v) for k, v in container_environment(serving, plan).items()],
            ports=[k8s.ContainerPort(name="http", container_port=pod.PORT, protocol="TCP")],
            resources=_resources(plan),
            security_context=_security_context(),
            startup_probe=_ping(pod.STARTUP_PERIOD_S, plan.startup_failure_threshold),
            readiness_probe=_ping(pod.READINESS_PERIOD_S, 2),
            liveness_probe=_ping(pod.LIVENESS_PERIOD_S, 3),
            lifecycle=k8s.Lifecycle(
                pre_stop=k8s.LifecycleHandler(exec=k8s.ExecAction(command=["sleep", str(pod.PRESTOP_S)]))
            ),
            volume_mounts=[
                k8s.VolumeMount(name="model", mount_path=MODEL_DIR, read_only=True),
                k8s.VolumeMount(name="tmp", mount_path=TMP_DIR),
            ],
        )
        annotations = {
            # The CDK's asset tag is the build context's content hash, and the CDK bootstrap's asset
            # repository refuses to overwrite a tag (ImageTagMutability IMMUTABLE).
            "checkov.io/skip1": "CKV_K8S_43=the tag is the CDK asset hash in an immutable ECR repository",
            "elasticml.io/model-source": source,
        }
        if placeholder:
            annotations["elasticml.io/model-source-placeholder"] = (
                f"no model version given: pass -c {settings.env}:{serving.model}_model_data_url=s3://..."
            )
        k8s.KubeDeployment(
            self,
            "Deployment",
            metadata=k8s.ObjectMeta(name=n["app"], annotations=annotations),
            spec=k8s.DeploymentSpec(
                revision_history_limit=5,
                selector=k8s.LabelSelector(match_labels=selector),
                strategy=k8s.DeploymentStrategy(
                    type="RollingUpdate",
                    rolling_update=k8s.RollingUpdateDeployment(
                        max_surge=k8s.IntOrString.from_number(1), max_unavailable=k8s.IntOrString.from_number(0)
                    ),
                ),
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels, annotations=annotations),
                    spec=k8s.PodSpec(
                        service_account_name=n["app"],
                        automount_service_account_token=False,
                        termination_grace_period_seconds=plan.grace_period_s,
                        security_context=k8s.PodSecurityContext(
                            run_as_non_root=True,
                            run_as_user=pod.UID,
                            run_as_group=pod.UID,
                            fs_group=pod.UID,
                            seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
                        ),
                        init_containers=[fetch],
                        containers=[server],
                        volumes=volumes,
                    ),
                ),
            ),
        )
        k8s.KubeService(
            self,
            "Service",
            metadata=meta,
            spec=k8s.ServiceSpec(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.ServicePort(
                        name="http", port=pod.PORT, target_port=k8s.IntOrString.from_string("http"), protocol="TCP"
                    )
                ],
            ),
        )
        k8s.KubePodDisruptionBudget(
            self,
            "Disruption",
            metadata=meta,
            spec=k8s.PodDisruptionBudgetSpec(
                max_unavailable=k8s.IntOrString.from_number(1), selector=k8s.LabelSelector(match_labels=selector)
            ),
        )
        self._network_policy(settings, n, selector, options)
        if uses_keda(serving):
            self._scaled_object(serving, n, plan, options)
        else:
            self._hpa(n, plan)

    def _network_policy(self, settings, n, selector, options: Options) -> None:
        s3 = options.s3_endpoint_cidrs or (settings.network.cidr,)
        https = [k8s.NetworkPolicyPort(port=k8s.IntOrString.from_number(443), protocol="TCP")]
        dns = [
            k8s.NetworkPolicyPort(port=k8s.IntOrString.from_number(53), protocol=protocol)
            for protocol in ("UDP", "TCP")
        ]
        k8s.KubeNetworkPolicy(
            self,
            "NetworkPolicy",
            metadata=k8s.ObjectMeta(name=n["app"]),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.NetworkPolicyIngressRule(
                        from_=[
                            k8s.NetworkPolicyPeer(pod_selector=k8s.LabelSelector(match_labels=dict([GATEWAY_LABEL])))
                        ],
                        ports=[k8s.NetworkPolicyPort(port=k8s.IntOrString.from_string("http"), protocol="TCP")],
                    )
                ],
                egress=[
                    k8s.NetworkPolicyEgressRule(
                        to=[
                            k8s.NetworkPolicyPeer(
                                namespace_selector=k8s.LabelSelector(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=k8s.LabelSelector(match_labels={"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=dns,
                    ),
                    k8s.NetworkPolicyEgressRule(
                        to=[k8s.NetworkPolicyPeer(ip_block=k8s.IpBlock(cidr=cidr)) for cidr in s3], ports=https
                    ),
                    k8s.NetworkPolicyEgressRule(
                        to=[k8s.NetworkPolicyPeer(ip_block=k8s.IpBlock(cidr=POD_IDENTITY_AGENT))],
                        ports=[k8s.NetworkPolicyPort(port=k8s.IntOrString.from_number(80), protocol="TCP")],
                    ),
                ],
            ),
        )

    def _hpa(self, n, plan: pod.PodPlan) -> None:
        api_object(
            self,
            "Autoscaler",
            api_version="autoscaling/v2",
            kind="HorizontalPodAutoscaler",
            name=n["app"],
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": n["app"]},
                "minReplicas": plan.min_replicas,
                "maxReplicas": plan.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": plan.cpu_target_percent},
                        },
                    }
                ],
                "behavior": behaviour(plan),
            },
        )

    def _scaled_object(self, serving: ServingSettings, n, plan: pod.PodPlan, options: Options) -> None:
        triggers: list[dict] = [
            {"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(plan.cpu_target_percent)}}
        ]
        if serving.min_capacity == 0:
            # KEDA's CPU scaler cannot wake a workload at zero: a request-rate trigger does
            # (https://keda.sh/docs/2.16/scalers/cpu/, https://keda.sh/docs/2.16/scalers/prometheus/).
            query = options.request_rate_query.format(namespace=n["namespace"], service=n["app"])
            triggers.append(
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": options.prometheus_url,
                        "query": query,
                        "threshold": f"{plan.target_rps_per_pod:g}",
                        "activationThreshold": "0",
                    },
                }
            )
        plan_actions = serving.plan.scheduled_actions if serving.plan else ()
        for window in cron_windows(plan_actions, serving.min_capacity):
            triggers.append(
                {
                    "type": "cron",
                    "name": window.name.lower(),
                    "metadata": {
                        "timezone": TIMEZONE,
                        "start": window.start,
                        "end": window.end,
                        "desiredReplicas": str(window.replicas),
                    },
                }
            )
        api_object(
            self,
            "ScaledObject",
            api_version=KEDA_API,
            kind="ScaledObject",
            name=n["app"],
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": n["app"]},
                "minReplicaCount": plan.min_replicas,
                "maxReplicaCount": plan.max_replicas,
                "cooldownPeriod": plan.scale_down_window_s,
                "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behaviour(plan)}},
                "triggers": triggers,
            },
        )


def build(app: App, settings: EnvironmentSettings, images: dict[str, str], options: Options = Options()) -> dict:
    """The namespace chart and one chart per model of `settings` into `app`."""
    # `kubectl apply -f DIR` applies files in name order: the namespace's file sorts first.
    charts: dict[str, Chart] = {"namespace": NamespaceChart(app, "00-namespace", namespace=settings.prefix)}
    for serving in settings.serving:
        charts[serving.model] = ServingChart(
            app, serving.model, settings=settings, serving=serving, image=images[serving.model], options=options
        )
    return charts
