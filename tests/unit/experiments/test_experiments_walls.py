"""The experiments client stays client-side (its import walls are in tests/unit/test_walls.py), and no
image build context holds it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_no_image_build_context_holds_the_client():
    for context in ("training", "inference"):
        assert not (ROOT / context / "experiments").exists()
