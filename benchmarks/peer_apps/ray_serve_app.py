"""Ray Serve serving the benchmark's artifact: one replica, batched with `@serve.batch`.

    .venv-peers-ray/bin/python -m benchmarks.peer_apps.ray_serve_app --model-dir DIR --port P \
        [--max-batch-size 32] [--batch-wait-s 0] [--threads N]

Batching as Ray's guide "Dynamic Request Batching" sets it up
(https://docs.ray.io/en/latest/serve/advanced-guides/dyn-req-batch.html): the deployment's `__call__`
reads and decodes one request, then awaits an `async` method decorated with
`@serve.batch(max_batch_size, batch_wait_timeout_s)` that receives a list and returns a list
(https://docs.ray.io/en/latest/serve/api/doc/ray.serve.batch.html). Its batch wait is 0 s here, as
LitServe's: take what has queued (Ray's default of 10 ms would be paid in full by a lone request).
Ray is started locally (`ray.init`, 2 CPUs, no dashboard); the HTTP proxy listens on 127.0.0.1:P
and routes `/predict` to the deployment. `GET /predict` answers 200 once the replica is up (the
benchmark's readiness probe); `POST /predict` takes the raw PNG/WAV body.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from benchmarks.peer_apps.common import MODEL_DIR_ENV, THREADS_ENV, ArtifactModel


def build(max_batch_size: int, batch_wait_s: float):  # unannotated: Ray's Application (Ray is not in .venv)
    @serve.deployment(num_replicas=1, max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
    class Classifier:
        def __init__(self) -> None:
            self.model = ArtifactModel()

        @serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_s)
        async def forward(self, items: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
            return self.model.predict(items[0][0], [array for _, array in items])

        async def __call__(self, request: Request) -> Response:
            if request.method == "GET":
                return PlainTextResponse("ok")
            entry, array = self.model.decode(await request.body())
            return JSONResponse(self.model.answer(await self.forward((entry, array))))

    return Classifier.bind()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait-s", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    # The replica is another process: it reads the artifact's folder and its thread count from here.
    os.environ[MODEL_DIR_ENV], os.environ[THREADS_ENV] = str(args.model_dir), str(args.threads)
    ray.init(
        num_cpus=len(os.sched_getaffinity(0)),
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {MODEL_DIR_ENV: str(args.model_dir), THREADS_ENV: str(args.threads)}},
    )
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(build(args.max_batch_size, args.batch_wait_s), route_prefix="/predict")
    while True:  # serve.run returns once the replica is up; the benchmark stops this process with SIGTERM
        time.sleep(3600)


if __name__ == "__main__":
    main()
