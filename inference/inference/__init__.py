"""Serving container for the project's model artifacts (SageMaker bring-your-own-container).

`python -m inference serve` (the image's `serve` program) runs the HTTP server of `inference.app`;
`python -m inference.client` invokes it, locally or as a deployed SageMaker endpoint.
The package never imports `training`: an artifact is self-contained (docs/contracts.md).
"""

__version__ = "0.1.0"
