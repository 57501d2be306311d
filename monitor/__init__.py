"""Drift and quality monitoring of a served model against its training job's reference profile.

`python -m monitor` (docs/monitoring.md): captured requests (SageMaker's data-capture JSON Lines, or the
server's own capture in the same format) -> the artifact's embedding program -> two-sample tests
against `reference_profile.npz` -> `drift.json` and `drift.png`. Imports the serving package for the
request decoding contract, never `training`.
"""
