"""Continuous deployment: what the release and promote workflows run (`python -m release ...`).

- `promotion`: a registry approval (a repository_dispatch from EventBridge) -> the approved package
  deployed to that environment's endpoint, the registry updated to say which package serves it;
  prod takes only packages that served in dev (`register` puts the same artifact in prod's registry).
- `deploy`: a release of one environment: every stack, the serving versions the registry records,
  the deployed commit recorded (stack output, mirrored by the git tag `deployed/<env>`).
- `plan`: offline, what a release of one environment would do.

Walls: boto3 and the CDK CLI (as a subprocess), never the CDK library; of `infra` only the CDK-free
settings modules.
"""
