"""Reads one mapping of raw cdk.json settings, naming the full key in every error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.errors import SettingsError
from shared_names import INSTANCE_TYPE, VCPUS_BY_SIZE


class Reader:
    """One object of cdk.json context at `key`: typed getters that record what was read, and `done()`,
    which refuses any key no getter read (a typo is an error, not an ignored setting)."""

    def __init__(self, raw: Any, key: str) -> None:
        if not isinstance(raw, Mapping):
            raise SettingsError(f"{key}: expected an object, got {type(raw).__name__}")
        self.raw, self.key = raw, key
        self.used: set[str] = set()

    def get(self, name: str) -> tuple[str, Any]:
        """(full key, raw value) of a required key."""
        key = f"{self.key}.{name}"
        if name not in self.raw:
            raise SettingsError(f"{key}: missing")
        self.used.add(name)
        return key, self.raw[name]

    def child(self, name: str) -> Reader:
        key, value = self.get(name)
        return Reader(value, key)

    def int(self, name: str, *, minimum: int = 0, allowed: tuple[int, ...] = ()) -> int:
        key, value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{key}: expected an integer, got {value!r}")
        if allowed and value not in allowed:
            raise SettingsError(f"{key}: {value} is not allowed; allowed: {', '.join(map(str, allowed))}")
        if value < minimum:
            raise SettingsError(f"{key}: {value} is below the minimum {minimum}")
        return value

    def float(self, name: str, *, low: float, high: float) -> float:
        key, value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{key}: expected a number, got {value!r}")
        if not low <= value <= high:
            raise SettingsError(f"{key}: {value} is outside the allowed range [{low}, {high}]")
        return float(value)

    def bool(self, name: str) -> bool:
        key, value = self.get(name)
        if not isinstance(value, bool):
            raise SettingsError(f"{key}: expected true or false, got {value!r}")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        key, value = self.get(name)
        if value not in allowed:
            raise SettingsError(f"{key}: {value!r} is not allowed; allowed: {', '.join(allowed)}")
        return value

    def instance_type(self, name: str, families: tuple[str, ...]) -> str:
        key, value = self.get(name)
        match = INSTANCE_TYPE.fullmatch(value) if isinstance(value, str) else None
        if not match:
            raise SettingsError(
                f"{key}: {value!r} is not an instance type of the form ml.<family>.<size>, e.g. ml.{families[0]}.xlarge"
            )
        if match.group(1) not in families:
            raise SettingsError(
                f"{key}: unknown instance family {match.group(1)!r} in {value!r}; "
                f"allowed families: {', '.join(families)}"
            )
        if match.group(2) not in VCPUS_BY_SIZE:
            raise SettingsError(
                f"{key}: unknown instance size {match.group(2)!r} in {value!r}; "
                f"allowed sizes: {', '.join(VCPUS_BY_SIZE)}"
            )
        return value

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise SettingsError(
                f"{self.key}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(self.used))}"
            )
