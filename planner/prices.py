"""On-demand $/instance-hour from review/prices.json (the file `make review` prices changes with)."""

from __future__ import annotations

import json
from pathlib import Path

PRICES = Path(__file__).resolve().parents[1] / "review" / "prices.json"


def hourly(instance_type: str, path: Path = PRICES) -> float | None:
    """The hosting price of `instance_type`, or None when prices.json has none."""
    data = json.loads(Path(path).read_text())
    price = data.get("hosting", {}).get(instance_type)
    return None if price is None else float(price)
