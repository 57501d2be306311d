"""The model's security, measured by every training job on its exported serving program.

Robustness (accuracy under adversarial attacks and common corruptions) and privacy (membership
inference on the train split against the held-out split), with IBM's Adversarial Robustness Toolbox
(ART). `training.security.job.measure_security` is the entry point; `evaluation.json["security"]`
holds the figures (docs/contracts.md, docs/security.md).

Only `budgets` is imported by the hyperparameters (no framework, no ART); the rest is imported when
the job measures.
"""
