"""The SageMaker training contract: where inputs come from and where outputs go.

SageMaker lays out `/opt/ml` (config files, channels, model and output dirs). The `SM_*` variables
(the names of the SageMaker training toolkit) override each path and value, and `--name value` flags
override hyperparameters, so the same program runs in a container, in tests and in local mode.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.errors import ConfigError

OPT_ML = Path("/opt/ml")


@dataclass(frozen=True)
class TrainingEnvironment:
    """Everything the job reads from its surroundings, resolved once at start-up."""

    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    input_dir: Path
    input_config_dir: Path
    channels: Mapping[str, Path]
    hosts: tuple[str, ...]
    current_host: str
    num_cpus: int
    num_gpus: int
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    network_interface: str | None = None


def _read_json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: {what} is not valid JSON ({error})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read {what} ({error.strerror})") from None


def _read_hyperparameters(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    raw = _read_json(path, "hyperparameters.json")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: hyperparameters.json must hold a JSON object, found {type(raw).__name__}")
    # SageMaker passes every value as a string; the SDK sometimes JSON-quotes them ('"cnn"').
    values: dict[str, str] = {}
    for key, value in raw.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        values[str(key)] = text
    return values


def parse_flags(argv: Sequence[str]) -> dict[str, str]:
    """`--name value` and `--name=value` pairs; `train` (SageMaker's program argument) is ignored."""
    args = [a for a in argv if a != "train"]
    flags: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected argument {arg!r}: use --name value (for example --model cnn)")
        name, has_value, value = arg[2:].partition("=")
        if not has_value:
            if index + 1 >= len(args) or args[index + 1].startswith("--"):
                raise ConfigError(f"flag --{name} needs a value")
            value = args[index + 1]
            index += 1
        flags[name.replace("-", "_")] = value
        index += 1
    return flags


def _hosts(environ: Mapping[str, str], resource_config: Mapping[str, object]) -> tuple[tuple[str, ...], str]:
    if "SM_HOSTS" in environ:
        try:
            hosts = json.loads(environ["SM_HOSTS"])
        except json.JSONDecodeError:
            raise ConfigError(f"SM_HOSTS must be a JSON list of host names, got {environ['SM_HOSTS']!r}") from None
    else:
        hosts = resource_config.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise ConfigError(f"the host list (SM_HOSTS or resourceconfig.json 'hosts') must be a list of names: {hosts!r}")
    current = environ.get("SM_CURRENT_HOST") or resource_config.get("current_host") or (hosts[0] if hosts else "algo-1")
    hosts = sorted(hosts) if hosts else [str(current)]
    if current not in hosts:
        raise ConfigError(f"current host {current!r} (SM_CURRENT_HOST) is not in the host list {hosts}")
    return tuple(hosts), str(current)


def _int_variable(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None


def _channels(environ: Mapping[str, str], input_dir: Path, input_config_dir: Path) -> dict[str, Path]:
    names: set[str] = set()
    data_config = input_config_dir / "inputdataconfig.json"
    if data_config.exists():
        config = _read_json(data_config, "inputdataconfig.json")
        if isinstance(config, dict):
            names.update(config)
    data_root = input_dir / "data"
    if data_root.is_dir():
        names.update(p.name for p in data_root.iterdir() if p.is_dir())
    names.update(key[len("SM_CHANNEL_") :].lower() for key in environ if key.startswith("SM_CHANNEL_"))
    channels = {}
    for name in sorted(names):
        override = environ.get(f"SM_CHANNEL_{name.upper()}")
        channels[name] = Path(override) if override else data_root / name
    return channels


def _visible_gpus() -> int:
    """GPUs on this host, without importing a framework (SageMaker's toolkit sets SM_NUM_GPUS; BYOC does not)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len([p for p in Path("/dev").glob("nvidia[0-9]*")])


def load_environment(argv: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> TrainingEnvironment:
    """Resolve paths, hosts and hyperparameters: files < `SM_*` variables < flags."""
    environ = os.environ if environ is None else environ
    input_dir = Path(environ.get("SM_INPUT_DIR") or OPT_ML / "input")
    input_config_dir = Path(environ.get("SM_INPUT_CONFIG_DIR") or input_dir / "config")
    output_dir = Path(environ.get("SM_OUTPUT_DIR") or OPT_ML / "output")
    resource_path = input_config_dir / "resourceconfig.json"
    resource_config = _read_json(resource_path, "resourceconfig.json") if resource_path.exists() else {}
    if not isinstance(resource_config, dict):
        raise ConfigError(f"{resource_path}: resourceconfig.json must hold a JSON object")
    hosts, current_host = _hosts(environ, resource_config)
    hyperparameters = _read_hyperparameters(input_config_dir / "hyperparameters.json")
    hyperparameters.update(parse_flags(argv))
    return TrainingEnvironment(
        model_dir=Path(environ.get("SM_MODEL_DIR") or OPT_ML / "model"),
        output_dir=output_dir,
        output_data_dir=Path(environ.get("SM_OUTPUT_DATA_DIR") or output_dir / "data"),
        input_dir=input_dir,
        input_config_dir=input_config_dir,
        channels=_channels(environ, input_dir, input_config_dir),
        hosts=hosts,
        current_host=current_host,
        num_cpus=_int_variable(environ, "SM_NUM_CPUS", os.cpu_count() or 1),
        num_gpus=_int_variable(environ, "SM_NUM_GPUS", _visible_gpus()),
        hyperparameters=hyperparameters,
        network_interface=resource_config.get("network_interface_name"),
    )
