"""The model artifact's `manifest.json` (schema_version 1, docs/contracts.md), read and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.errors import ArtifactError

SCHEMA_VERSION = 1
FRAMEWORKS = ("pytorch", "tensorflow")


@dataclass(frozen=True)
class ImageInput:
    height: int
    width: int


@dataclass(frozen=True)
class AudioInput:
    sample_rate: int | None  # None with num_samples: a features-only model (trained on .npz MFCCs)
    num_samples: int | None
    feature_shape: tuple[int, ...]
    waveform_signature: str | None  # None: the model takes features only
    features_signature: str


@dataclass(frozen=True)
class Manifest:
    name: str
    framework: str
    task: str
    model_path: Path
    class_names: tuple[str, ...]
    input: ImageInput | AudioInput
    raw: dict[str, Any]

    @property
    def is_image(self) -> bool:
        return isinstance(self.input, ImageInput)

    @property
    def image(self) -> ImageInput:
        """The image model's input (an audio model's manifest raises: check `is_image` first)."""
        if not isinstance(self.input, ImageInput):
            raise ArtifactError(f"manifest.json: {self.name} is not an image model")
        return self.input

    @property
    def audio(self) -> AudioInput:
        """The audio model's input (an image model's manifest raises: check `is_image` first)."""
        if not isinstance(self.input, AudioInput):
            raise ArtifactError(f"manifest.json: {self.name} is not an audio model")
        return self.input


def _get(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ArtifactError(f"manifest.json: {where}{key} is missing")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ArtifactError(f"manifest.json: {where}{key} has the wrong type ({type(value).__name__})")
    return value


def _positive(value: int, what: str) -> int:
    if value <= 0:
        raise ArtifactError(f"manifest.json: {what} must be positive, found {value}")
    return value


def _image_input(spec: dict[str, Any]) -> ImageInput:
    return ImageInput(
        height=_positive(_get(spec, "height", int, "input."), "input.height"),
        width=_positive(_get(spec, "width", int, "input."), "input.width"),
    )


def _audio_input(spec: dict[str, Any]) -> AudioInput:
    signatures = _get(spec, "signatures", dict, "input.")
    shape = tuple(_get(spec, "feature_shape", list, "input."))
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ArtifactError(f"manifest.json: input.feature_shape must be positive integers, found {list(shape)}")
    waveform = signatures.get("waveform") if spec.get("features_in_model", True) else None
    if waveform is not None and not isinstance(waveform, str):
        raise ArtifactError("manifest.json: input.signatures.waveform must be a string")
    waveform_keys = (
        {key: _positive(_get(spec, key, int, "input."), f"input.{key}") for key in ("sample_rate", "num_samples")}
        if waveform is not None
        else {}
    )
    return AudioInput(
        sample_rate=waveform_keys.get("sample_rate"),
        num_samples=waveform_keys.get("num_samples"),
        feature_shape=shape,
        waveform_signature=waveform,
        features_signature=_get(signatures, "features", str, "input.signatures."),
    )


def load_manifest(model_dir: Path) -> Manifest:
    """Read `<model_dir>/manifest.json`; an ArtifactError names what is missing or wrong."""
    path = Path(model_dir) / "manifest.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path} not found: is {model_dir} a model directory?") from None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{path} cannot be read: {error}") from None
    version = _get(raw, "schema_version", int, "")
    if version != SCHEMA_VERSION:
        raise ArtifactError(f"manifest.json: schema_version {version} is not supported (expected {SCHEMA_VERSION})")
    framework = _get(raw, "framework", str, "")
    if framework not in FRAMEWORKS:
        raise ArtifactError(f"manifest.json: framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    task = _get(raw, "task", str, "")
    spec = _get(raw, "input", dict, "")
    if task == "image_classification":
        model_input: ImageInput | AudioInput = _image_input(spec)
    elif task == "audio_classification":
        model_input = _audio_input(spec)
    else:
        raise ArtifactError(f"manifest.json: task {task!r} is not supported")
    class_names = _get(raw, "class_names", list, "")
    if not class_names or not all(isinstance(c, str) for c in class_names):
        raise ArtifactError("manifest.json: class_names must be a non-empty list of strings")
    model_path = Path(model_dir) / _get(raw, "model_file", str, "")
    if not model_path.exists():
        raise ArtifactError(f"manifest.json: model_file {model_path} does not exist")
    return Manifest(
        name=str(raw.get("name", model_path.stem)),
        framework=framework,
        task=task,
        model_path=model_path,
        class_names=tuple(class_names),
        input=model_input,
        raw=raw,
    )
