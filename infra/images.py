"""The serving image per model kind: the one function that decides it, for the serving stacks and for
the Kubernetes manifests (`python -m infra.images --env dev` prints the URIs `make k8s` puts in them).

Today one image serves both model kinds; a split into one image per framework changes
`serving_image` only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import App, DefaultStackSynthesizer, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from constructs import Construct

from infra.settings import MODEL_NAMES, SettingsError, load_settings
from infra.stacks.training_stack import image_asset

REPO_ROOT = Path(__file__).resolve().parents[1]
INFERENCE_DIR = REPO_ROOT / "inference"


def serving_image(scope: Construct, model: str, inference_dir: Path) -> ecr_assets.DockerImageAsset:
    """The image asset that serves `model` (construct id `InferenceImage` under `scope`)."""
    return image_asset(scope, "InferenceImage", inference_dir)


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
