"""`python -m k8s --env dev --images images.json --out build/k8s/dev`: the serving manifests of one
environment (`make k8s ENV=dev` runs it after `python -m infra.images` has named the images)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from cdk8s import App, YamlOutputType

from infra.settings import SettingsError
from k8s.chart import Options, build, model_source
from k8s.source import environment_settings


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m k8s", description=__doc__)
    parser.add_argument("--env", required=True, help="environment of cdk.json")
    parser.add_argument("--images", type=Path, required=True, help="JSON {model: image URI} (python -m infra.images)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the manifests to (emptied first)")
    parser.add_argument(
        "--context",
        "-c",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="as cdk's -c, e.g. dev:cnn_model_data_url=s3://...",
    )
    parser.add_argument("--s3-endpoint-cidr", action="append", default=[], help="the S3 interface endpoint's addresses")
    parser.add_argument("--prometheus-url", default=Options.prometheus_url)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    extra = dict(item.split("=", 1) for item in args.context if "=" in item)
    try:
        settings = environment_settings(args.env, extra=extra)
        images = json.loads(args.images.read_text())
        missing = [s.model for s in settings.serving if s.model not in images]
        if missing:
            raise SettingsError(f"{args.images}: no image for {', '.join(missing)}")
        options = Options(s3_endpoint_cidrs=tuple(args.s3_endpoint_cidr), prometheus_url=args.prometheus_url)
        if args.out.exists():
            shutil.rmtree(args.out)
        app = App(outdir=str(args.out), yaml_output_type=YamlOutputType.FILE_PER_CHART)
        charts = build(app, settings, images, options)
        app.synth()
    except SettingsError as exc:
        print(f"Invalid settings (cdk.json context): {exc}", file=sys.stderr)
        return 2
    for serving in settings.serving:
        source, placeholder = model_source(settings, serving)
        scaler = "KEDA ScaledObject" if "ScaledObject" in str(charts[serving.model].to_json()) else "HPA"
        print(
            f"{settings.prefix}-{serving.model}: {scaler}, model {source}" + (" (placeholder)" if placeholder else "")
        )
    print(f"wrote {', '.join(sorted(p.name for p in args.out.iterdir()))} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
