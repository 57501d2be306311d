"""The one exception local mode reports to the user: a cause and what to do about it."""

from __future__ import annotations


class LocalModeError(Exception):
    """Printed as two lines, `error: <cause>` and `  fix: <remedy>`, with a non-zero exit."""

    def __init__(self, cause: str, remedy: str, exit_code: int = 1) -> None:
        super().__init__(cause)
        self.cause = cause
        self.remedy = remedy
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.cause} ({self.remedy})"
