#!/usr/bin/env python3
"""CDK app entry point: `npx cdk synth` (every environment) or `npx cdk synth -c env=dev`."""

from infra.application import main

if __name__ == "__main__":
    main()
