"""Synth-and-review of a change: what it does to the deployed system, before merge.

`python -m review --base REF` synthesizes REF (in a temporary git worktree) and the working tree, every
environment, compares them stack by stack with the CDK CLI's own template diff, classifies the changes
(destructive, widening, cdk-nag, cost) and writes review.md. Modules, one job each:

- gitref: which base to compare with, and its temporary worktree
- synth: `cdk synth` of one tree into a cloud assembly, read back stack by stack
- cdkdiff: `cdk diff --template` per stack, parsed into resource and security changes
- classify: destructive changes to stateful resources, widening IAM and security-group changes
- nagdiff: cdk-nag findings (violations and acknowledgments) that appear or disappear
- cost: cost-moving settings in the templates, priced from prices.json
- report: review.md
"""
