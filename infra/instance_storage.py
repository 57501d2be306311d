"""SageMaker instance families with instance (NVMe SSD) storage: the one table that the training job,
the endpoint config and the project's nag rule read.

On these families SageMaker mounts the local instance store instead of an EBS volume; that storage is
encrypted by a hardware module on the instance, and a KMS key for it is refused:
- CreateTrainingJob `ResourceConfig.VolumeKmsKeyId`: "You can't request a VolumeKmsKeyId when using an
  instance type with local storage."
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html
- CreateEndpointConfig `KmsKeyId`: "If you specify a value for KmsKeyId when using any nitro-based
  instances with local storage, the call to CreateEndpointConfig fails."
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html
Which types have local storage: "Instance store volumes" in the EC2 guide, which both pages link,
https://docs.aws.amazon.com/ec2/latest/instancetypes/ (column "Instance store volumes"), and the
SageMaker hosting page https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html.
"""

from __future__ import annotations

from shared_names import INSTANCE_TYPE

# Families (the middle part of ml.<family>.<size>) whose every size carries NVMe instance storage.
INSTANCE_STORAGE_FAMILIES = frozenset(
    {
        # general purpose, compute and memory optimised with the "d" (local disk) suffix
        "m5d",
        "m6id",
        "m6gd",
        "m7gd",
        "c5d",
        "c6id",
        "c6gd",
        "c7gd",
        "r5d",
        "r6id",
        "r6gd",
        "r7gd",
        "x2iedn",
        # GPU and accelerator families
        "g4dn",
        "g4ad",
        "g5",
        "g6",
        "g6e",
        "gr6",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "p6",
        "trn1",
        "trn1n",
        "trn2",
    }
)


def instance_family(instance_type: object) -> str | None:
    """`g5` for `ml.g5.xlarge`; None for anything that is not a literal ml.<family>.<size> (a token, None)."""
    match = INSTANCE_TYPE.fullmatch(instance_type) if isinstance(instance_type, str) else None
    return match.group(1) if match else None


def has_instance_storage(instance_type: object) -> bool:
    """Whether SageMaker refuses a KMS key for this instance type's storage volume."""
    return instance_family(instance_type) in INSTANCE_STORAGE_FAMILIES
