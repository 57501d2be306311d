"""vCPUs of a SageMaker instance type, and scaling a measured capacity to another size of its family.

Dependency-free on purpose: the planner and infra both use this one rule.
The sizes follow the EC2 naming every ML instance family here uses: large = 2 vCPUs, xlarge = 4,
Nxlarge = 4N (https://aws.amazon.com/sagemaker/ai/pricing/ lists vCPUs per ML instance; e.g.
ml.c5.large 2, ml.c5.xlarge 4, ml.c5.9xlarge 36, ml.g5.2xlarge 8). ml.t2.medium has 2 vCPUs.
"""

from __future__ import annotations

import re

_TYPE = re.compile(r"ml\.([a-z0-9]+)\.(medium|large|xlarge|(\d+)xlarge)")


class InstanceTypeError(ValueError):
    """An instance type the planner cannot size, or a family other than the one measured on."""


def parse(instance_type: str) -> tuple[str, int]:
    """(family, vCPUs) of `ml.<family>.<size>`."""
    match = _TYPE.fullmatch(instance_type or "")
    if not match:
        raise InstanceTypeError(f"{instance_type!r} is not an instance type of the form ml.<family>.<size>")
    family, size, n = match.group(1), match.group(2), match.group(3)
    vcpus = 2 if size in ("medium", "large") else 4 if size == "xlarge" else 4 * int(n)
    return family, vcpus


def scale_to(rps: float, measured_type: str, target_type: str) -> tuple[float, str]:
    """Capacity measured as `measured_type`, scaled by vCPU count to `target_type` (same family only).

    Returns the scaled figure and a sentence saying how it was scaled. Linear in vCPUs: the server
    runs one worker per core, so throughput scales with cores while memory is not the limit (the
    capacity file records the memory it was measured with).
    """
    m_family, m_vcpus = parse(measured_type)
    t_family, t_vcpus = parse(target_type)
    if m_family != t_family:
        raise InstanceTypeError(
            f"{target_type}: family {t_family!r} differs from {m_family!r}, the family the "
            f"capacity was measured as ({measured_type}); measure it on {t_family} or "
            f"choose an ml.{m_family}.* type"
        )
    scaled = rps * t_vcpus / m_vcpus
    return (
        scaled,
        f"{rps:g} req/s measured as {measured_type} ({m_vcpus} vCPU) x {t_vcpus}/{m_vcpus} vCPU "
        f"= {scaled:g} req/s on {target_type}",
    )
