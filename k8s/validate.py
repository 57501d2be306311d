"""`python -m k8s.validate DIR --kubernetes-version 1.31.0 --kubernetes-version 1.33.0`: every manifest
in DIR checked offline.

- Built-in kinds: kubernetes-validate (its bundled `-strict` OpenAPI schemas, which refuse unknown
  fields) for each Kubernetes version.
- KEDA's ScaledObject: the pydantic models that cloudcoil-models-keda 2.16.1.0 (PyPI) generates from
  KEDA 2.16.1's published CRD schemas (https://github.com/cloudcoil/models-keda), plus a walk that
  refuses any field the schema does not declare (the models themselves ignore unknown ones), and the
  trigger metadata KEDA's scalers require (which the CRD leaves as a free string map).
"""

from __future__ import annotations

import argparse
import sys
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

KEDA_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}
KEDA_SCHEMA_PACKAGE = "cloudcoil-models-keda==2.16.1.0 (KEDA 2.16.1's CRDs)"
# What each trigger type used here must carry (https://keda.sh/docs/2.16/scalers/).
TRIGGER_METADATA = {
    "cpu": {"value"},
    "prometheus": {"serverAddress", "query", "threshold"},
    "cron": {"timezone", "start", "end", "desiredReplicas"},
}


def documents(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"{folder}: no manifests (run make k8s)")
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def validate_builtin(doc: dict[str, Any], version: str) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


def _model_of(annotation: Any) -> Any:
    """The pydantic model class inside Optional[...]/List[...]/Annotated[...], else None."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def unknown_fields(model: Any, data: Any, path: str = "") -> list[str]:
    """Fields in `data` that `model` (a cloudcoil pydantic model) does not declare, recursively."""
    from pydantic import RootModel

    if isinstance(model, type) and issubclass(model, RootModel):
        inner = _model_of(model.model_fields["root"].annotation)
        return unknown_fields(inner, data, path) if inner else []
    if isinstance(data, list):
        return [e for i, item in enumerate(data) for e in unknown_fields(model, item, f"{path}[{i}]")]
    if not isinstance(data, dict) or model is None:
        return []
    by_alias = {(f.alias or name): f for name, f in model.model_fields.items()}
    out = []
    for key, value in data.items():
        field = by_alias.get(key)
        if field is None:
            out.append(f"{path}.{key}: not in the schema".lstrip("."))
            continue
        if key == "metadata" and path == "":
            continue  # ObjectMeta: checked by the API server
        sub = _model_of(field.annotation)
        out += unknown_fields(sub, value, f"{path}.{key}")
    return out


def validate_keda(doc: dict[str, Any]) -> list[str]:
    import cloudcoil.models.keda.v1alpha1 as keda
    from pydantic import ValidationError

    try:
        keda.ScaledObject.model_validate(doc)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    errors = unknown_fields(keda.ScaledObject, doc)
    for i, trigger in enumerate(doc.get("spec", {}).get("triggers", [])):
        need = TRIGGER_METADATA.get(trigger.get("type"))
        if need is None:
            errors.append(f"spec.triggers[{i}].type: {trigger.get('type')!r} is not a trigger checked here")
            continue
        missing = need - set(trigger.get("metadata", {}))
        if missing:
            errors.append(f"spec.triggers[{i}].metadata: missing {', '.join(sorted(missing))}")
        if any(not isinstance(v, str) for v in trigger.get("metadata", {}).values()):
            errors.append(f"spec.triggers[{i}].metadata: every value must be a string")
    return errors


def validate_folder(folder: Path, versions: Sequence[str]) -> dict[str, list[str]]:
    """{"file: Kind/name [check]": [errors]} for every document that fails; empty when all pass."""
    failures: dict[str, list[str]] = {}
    for path, doc in documents(folder):
        where = f"{path.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if (doc.get("apiVersion"), doc.get("kind")) in KEDA_KINDS:
            errors = validate_keda(doc)
            if errors:
                failures[f"{where} [{KEDA_SCHEMA_PACKAGE}]"] = errors
            continue
        for version in versions:
            errors = validate_builtin(doc, version)
            if errors:
                failures[f"{where} [Kubernetes {version} strict]"] = errors
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8s.validate", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--kubernetes-version", action="append", required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    failures = validate_folder(args.folder, args.kubernetes_version)
    count = sum(1 for _ in documents(args.folder))
    for where, errors in failures.items():
        print(f"FAIL {where}", *(f"  {e}" for e in errors), sep="\n")
    print(
        f"{count} manifests in {args.folder}: built-in kinds against Kubernetes "
        f"{', '.join(args.kubernetes_version)} (strict), ScaledObjects against {KEDA_SCHEMA_PACKAGE}: "
        f"{len(failures)} failed"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
