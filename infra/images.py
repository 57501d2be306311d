"""The serving image per model kind: the one function that decides it, for the serving stacks and for
the Kubernetes manifests (`python -m infra.images --env dev` prints the URIs `make k8s` puts in them).

One Dockerfile (`inference/Dockerfile`) builds one serving image per framework (`FRAMEWORK=pytorch|
tensorflow`, `shared_names.FRAMEWORK_BY_MODEL`): the CNN's holds torch, the MLP's TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import App, DefaultStackSynthesizer, FileSystem, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from constructs import Construct

from infra.settings import MODEL_NAMES, SettingsError, load_settings
from shared_names import FRAMEWORK_BY_MODEL

REPO_ROOT = Path(__file__).resolve().parents[1]
INFERENCE_DIR = REPO_ROOT / "inference"
# The one home of torch's version (the dev venv's pin); the PyTorch images get it as a build argument.
TORCH_PIN_FILE = REPO_ROOT / "requirements.txt"
MONITOR_DIR = REPO_ROOT / "monitor"
MONITOR_TARGET, MONITOR_CONTEXT = "monitor", "monitor_src"  # inference/Dockerfile's stage and named context

# Build-context clutter that must not change the asset hash or reach the image.
IMAGE_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.ruff_cache",
    "**/.mypy_cache",
    "**/*.egg-info",
    "**/.venv",
    "**/.ipynb_checkpoints",
    "**/.DS_Store",
]


def pinned_version(package: str, requirements: Path = TORCH_PIN_FILE) -> str:
    """VERSION of the `package==VERSION` line of a requirements file."""
    for line in requirements.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name == package and version:
            return version
    raise SettingsError(f"{requirements}: no {package}==VERSION line")


def with_torch_version(build_args: dict[str, str]) -> dict[str, str]:
    """FRAMEWORK=pytorch also passes TORCH_VERSION, as `make images` does (the Dockerfiles refuse to build
    a PyTorch image without it)."""
    if build_args.get("FRAMEWORK") == "pytorch":
        return {**build_args, "TORCH_VERSION": pinned_version("torch")}
    return build_args


def image_asset(scope: Construct, construct_id: str, directory: Path, **build_args: str) -> ecr_assets.DockerImageAsset:
    """A Docker image asset, built with `build_args` (and torch's pinned version for a PyTorch image)."""
    build_args = with_torch_version(build_args)
    return ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(directory),
        build_args=build_args or None,
        exclude=IMAGE_EXCLUDES,
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


def serving_image(
    scope: Construct, model: str, inference_dir: Path, construct_id: str = "InferenceImage"
) -> ecr_assets.DockerImageAsset:
    """The image asset that serves `model`: its framework's serving image."""
    return image_asset(scope, construct_id, inference_dir, FRAMEWORK=FRAMEWORK_BY_MODEL[model])


def monitor_image(
    scope: Construct,
    model: str,
    inference_dir: Path,
    monitor_dir: Path = MONITOR_DIR,
    construct_id: str = "MonitorImage",
) -> ecr_assets.DockerImageAsset:
    """The drift monitor's image for `model`: its serving image's Dockerfile built to the `monitor` target,
    with the `monitor` package as a named build context. The CDK fingerprints only the main directory
    and hashes a build context by its path (which differs between checkouts), so the context's path is
    left out of the hash and the contents of `monitor_dir` go in as the extra hash: deterministic, and a
    change in `monitor/` rebuilds the image.
    https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk.aws_ecr_assets/DockerImageAsset.html (buildContexts)"""
    return ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(inference_dir),
        build_args=with_torch_version({"FRAMEWORK": FRAMEWORK_BY_MODEL[model]}),
        build_contexts={MONITOR_CONTEXT: str(monitor_dir)},
        target=MONITOR_TARGET,
        exclude=IMAGE_EXCLUDES,
        platform=ecr_assets.Platform.LINUX_AMD64,
        invalidation=ecr_assets.DockerImageAssetInvalidationOptions(build_contexts=False),
        extra_hash=FileSystem.fingerprint(str(monitor_dir), exclude=IMAGE_EXCLUDES),
    )


def asset_uri(asset: ecr_assets.DockerImageAsset, account: str, region: str) -> str:
    """Where `cdk deploy` pushes the asset with the default synthesizer: the bootstrap's asset repository,
    tagged with the asset's content hash."""
    repository = (
        DefaultStackSynthesizer.DEFAULT_IMAGE_ASSETS_REPOSITORY_NAME.replace(
            "${Qualifier}", DefaultStackSynthesizer.DEFAULT_QUALIFIER
        )
        .replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
    )
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{asset.asset_hash}"


def serving_image_uris(account: str, region: str, inference_dir: Path = INFERENCE_DIR) -> dict[str, str]:
    stack = Stack(App(), "Images")
    return {
        model: asset_uri(serving_image(Construct(stack, model), model, inference_dir), account, region)
        for model in MODEL_NAMES
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.images", description=__doc__)
    parser.add_argument("--env", required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    try:
        settings = load_settings(context, args.env)
    except SettingsError as exc:
        print(f"Invalid settings (cdk.json context): {exc}", file=sys.stderr)
        return 2
    print(json.dumps(serving_image_uris(settings.account or "ACCOUNT", settings.region or "REGION"), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
