"""Progress: a bar on a terminal, plain lines otherwise (CI logs, `make local | tee`)."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """Counts `total` steps; `note` shows a message beside the bar, or prints it as a line."""

    def __init__(
        self, description: str, total: int, *, stream: TextIO | None = None, interactive: bool | None = None
    ) -> None:
        self.stream = stream or sys.stdout
        self.description = description
        self.total = total
        self.count = 0
        interactive = self.stream.isatty() if interactive is None else interactive
        self._bar: Any = None
        if interactive:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, file=self.stream, leave=False, dynamic_ncols=True)

    def advance(self, steps: int = 1, note: str = "") -> None:
        self.count = min(self.total, self.count + steps)
        if self._bar is not None:
            self._bar.update(steps)
            if note:
                self._bar.set_postfix_str(note, refresh=True)
        elif note:
            self.line(f"{self.description}: {note}")

    def set_total(self, total: int) -> None:
        """The job may train other than the epochs asked (an auto recipe, the small-data floor): its
        epoch lines say how many, and the bar follows them."""
        if total == self.total:
            return
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def line(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
