"""`python -m inference serve [flags]`: the serving container's entry point (see inference.settings);
`python -m inference fetch-model --source s3://... --model-dir DIR`: a Kubernetes init container's
download of model.tar.gz (inference.fetch)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from inference.artifact import load_manifest
from inference.capture import CaptureError, CaptureSettings
from inference.errors import ArtifactError
from inference.settings import DESCRIPTIONS, ServeSettings, SettingsError, flag, flag_help


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m inference", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the model in the model dir over HTTP")
    for field in fields(ServeSettings):
        if field.name in DESCRIPTIONS:
            kind = {"int": int, "float": float}.get(str(field.type), str)
            serve.add_argument(flag(field.name), type=kind, help=flag_help(field.name))
    fetch = commands.add_parser("fetch-model", help="download model.tar.gz from S3 and unpack it (an init container)")
    fetch.add_argument("--source", required=True, help="s3://BUCKET/KEY.tar.gz")
    fetch.add_argument("--model-dir", type=Path, required=True, help="folder to unpack into")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "fetch-model":
        from inference.fetch import FetchError, fetch_model

        try:
            fetch_model(args.source, args.model_dir)
        except ArtifactError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except FetchError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"fetched {args.source} into {args.model_dir}")
        return 0
    options = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = ServeSettings.from_env(**options)
        CaptureSettings.from_env()  # INFERENCE_CAPTURE_*: checked here, used when the model loads
    except (SettingsError, CaptureError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        load_manifest(settings.model_dir)  # a broken artifact stops here, before any framework loads
    except ArtifactError as error:
        print(f"error: {error} (set SM_MODEL_DIR or --model-dir)", file=sys.stderr)
        return 2
    from inference.server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
