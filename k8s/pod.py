"""What one serving pod is: its size, probes, drain and autoscaling figures, from the serving settings.

A pod stands for what SageMaker scales in the model's mode, so replicas are `min_capacity` to
`max_capacity` in both:
- `realtime` and `async`: one instance of `instance_type`, the same vCPUs and memory; the capacity
  file's requests/s per instance (scaled to that type by vCPUs, infra.settings) is one pod's capacity;
- `scale-to-zero`: one inference component copy, the cores and memory a copy reserves
  (`scale_to_zero.copy_cpu_cores`, `copy_memory_mb`), with the per-copy target (infra.serving_modes).
CPU-only: a GPU family stops here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.serving_modes import SCALE_TO_ZERO, ScaleToZeroSettings, invocations_per_copy_target
from infra.settings import ServingSettings, SettingsError
from shared_names import parse_instance_type

# Memory per vCPU of the CPU families infra serves on (EC2 instance type specifications,
# https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html and .../co.html, .../mo.html:
# c5.large 2 vCPU 4 GiB, m5.large 2 vCPU 8 GiB, r5.large 2 vCPU 16 GiB, t2.medium 2 vCPU 4 GiB).
GIB_PER_VCPU = {"c5": 2, "c6i": 2, "c7i": 2, "t2": 2, "m5": 4, "m6i": 4, "m7i": 4, "r5": 8}

# The server's drain after SIGTERM (inference.settings.ServeSettings.graceful_timeout_s; the container
# packages are behind a wall, tests/unit/k8s/test_pod.py pins the copy).
DRAIN_S = 25
# preStop: the pod keeps serving while its endpoint leaves the Service and the gateway's upstreams
# (endpoint removal and SIGTERM race; https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/).
PRESTOP_S = 5
# terminationGracePeriodSeconds counts from the start of preStop: preStop + drain + the exit itself.
EXIT_MARGIN_S = 5
PORT = 8080  # SAGEMAKER_BIND_TO_PORT's default in the image
# Cold start under the dev pod's own limits (1 CPU, 1 GiB, read-only root, uid 10001): `docker run` to
# the first 200 from /ping, the slowest of the runs recorded in benchmarks/results/k8s_pod.md (this
# 2-core machine at load average 13, other jobs building images: upper figures). Without a CPU
# limit, at load 7-9, it was 4.1-6.1 s (benchmarks/results/images.md): importing the
# frameworks on one throttled core is most of it.
COLD_START_S = {"cnn": 71.4, "mlp": 59.6}
COLD_START_MARGIN = 2  # the startup probe allows twice the measured start before the kubelet restarts it
STARTUP_PERIOD_S = 2
READINESS_PERIOD_S = 5
LIVENESS_PERIOD_S = 10
PROBE_TIMEOUT_S = 2  # SageMaker's own /ping limit (docs/architecture.md, Serving contract)
UID = 10001  # not the image's 1000: a UID above 10000 cannot collide with a host user (checkov CKV_K8S_40)


@dataclass(frozen=True)
class PodPlan:
    model: str
    cpu_cores: float  # requests = limits (Guaranteed QoS)
    memory_mib: int
    threads: int  # INFERENCE_NUM_THREADS: a container sees every node CPU in its affinity, not its limit
    target_rps_per_pod: float  # SageMaker's invocations target (per instance or per copy) / 60
    cpu_target_percent: int  # the HPA's CPU utilisation target: the same safety factor
    min_replicas: int
    max_replicas: int
    startup_failure_threshold: int
    grace_period_s: int
    scale_up_period_s: int
    scale_down_window_s: int

    @property
    def cpu(self) -> str:
        """A Kubernetes quantity: whole cores as "4", else millicores."""
        return str(int(self.cpu_cores)) if float(self.cpu_cores).is_integer() else f"{round(self.cpu_cores * 1000)}m"

    @property
    def memory(self) -> str:
        return f"{self.memory_mib // 1024}Gi" if self.memory_mib % 1024 == 0 else f"{self.memory_mib}Mi"


def pod_plan(serving: ServingSettings) -> PodPlan:
    family, vcpus = parse_instance_type(serving.instance_type)
    if family not in GIB_PER_VCPU:
        raise SettingsError(
            f"serving.{serving.model}.instance_type: {serving.instance_type!r} has no CPU pod size here; "
            f"the Kubernetes manifests size pods as one of: {', '.join(sorted(GIB_PER_VCPU))}"
        )
    if serving.mode == SCALE_TO_ZERO:
        copy = serving.mode_options if isinstance(serving.mode_options, ScaleToZeroSettings) else ScaleToZeroSettings()
        cores, memory_mib, per_minute = copy.copy_cpu_cores, copy.copy_memory_mb, invocations_per_copy_target(serving)
    else:
        cores, memory_mib = float(vcpus), vcpus * GIB_PER_VCPU[family] * 1024
        per_minute = serving.invocations_per_instance_target
    cold = COLD_START_S[serving.model] * COLD_START_MARGIN
    return PodPlan(
        model=serving.model,
        cpu_cores=cores,
        memory_mib=memory_mib,
        threads=max(1, math.ceil(cores)),
        target_rps_per_pod=round(per_minute / 60, 2),
        cpu_target_percent=round(serving.safety_factor * 100),
        min_replicas=serving.min_capacity,
        max_replicas=serving.max_capacity,
        startup_failure_threshold=math.ceil(cold / STARTUP_PERIOD_S),
        grace_period_s=PRESTOP_S + DRAIN_S + EXIT_MARGIN_S,
        # The planner's (or cdk.json's) cooldowns: one scale-out step per scale-out cooldown, and a
        # scale-in only once the recommendation has stayed low for the scale-in cooldown.
        scale_up_period_s=min(1800, max(15, serving.scale_out_cooldown_s)),
        scale_down_window_s=min(1800, serving.scale_in_cooldown_s),
    )
