"""KServe's Python model server (`kserve.ModelServer`) serving the benchmark's artifact.

    .venv-peers-kserve/bin/python -m benchmarks.peer_apps.kserve_app --model-dir DIR --port P [--threads N]

A `kserve.Model` subclass as KServe's "custom model" guide writes one (`load` sets `ready`, `predict`
takes the decoded v1 request): https://kserve.github.io/website/latest/modelserving/v1beta1/custom/custom_model/
Requests use KServe's v1 protocol, `POST /v1/models/NAME:predict` with
`{"instances": [{"b64": "<base64 PNG/WAV>"}]}` (binary inputs as `b64`, the v1 protocol's convention);
`GET /v1/models/NAME` answers 200 once the model is ready.

Not batched: KServe batches in its model agent, a Go sidecar that the InferenceService controller
injects into the pod on Kubernetes (https://kserve.github.io/website/docs/model-serving/predictive-inference/batcher);
the Python model server has no batcher of its own, so each request is one forward pass, as a
KServe server runs without that sidecar.
"""

from __future__ import annotations

import argparse
import base64
import os
from typing import Any

import kserve
import uvicorn

from benchmarks.peer_apps.common import ArtifactModel


class Classifier(kserve.Model):
    def __init__(self, name: str, model_dir: str, threads: int) -> None:
        super().__init__(name)
        self.model_dir, self.threads = model_dir, threads
        self.load()

    def load(self) -> bool:
        self.model = ArtifactModel(self.model_dir, self.threads)
        self.ready = True
        return self.ready

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        decoded = [self.model.decode(base64.b64decode(item["b64"])) for item in payload["instances"]]
        rows = self.model.predict(decoded[0][0], [array for _, array in decoded])
        predictions = [prediction for row in rows for prediction in self.model.answer(row)["predictions"]]
        return {"model": self.model.manifest.name, "predictions": predictions}


def listen_locally() -> None:
    """KServe's REST server binds 0.0.0.0 (kserve/protocol/rest/server.py builds its uvicorn.Config with
    host="0.0.0.0" and no option); a benchmark server listens on 127.0.0.1 only."""
    original = uvicorn.Config.__init__

    def local(self: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "host": "127.0.0.1"})

    uvicorn.Config.__init__ = local  # type: ignore[method-assign]  # KServe has no option for the host


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="model")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    listen_locally()
    model = Classifier(args.name, args.model_dir, args.threads)
    kserve.ModelServer(http_port=args.port, grpc_port=args.port + 1, workers=1, enable_grpc=False).start([model])


if __name__ == "__main__":
    main()
