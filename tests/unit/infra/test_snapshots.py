"""One snapshot per stack: a change detector for review (`pytest --snapshot-update` after an intended change).

The fine-grained tests say what must hold; these only show that something changed.
"""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import STACKS


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_snapshot(synthesized, snapshot_json, stack):
    assert synthesized.json(stack) == snapshot_json
