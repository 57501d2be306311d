"""The error every invalid input to infra raises: cdk.json settings, the capacity file, a capacity plan.

Its own module, imported by each reader (`infra/settings.py` and the modules it is made of,
`infra/serving_modes.py`, `infra/capacity_plan.py`, `infra/ci_settings.py`), so none of them imports
another to raise it.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """An invalid setting; the message names the key and the allowed values."""
