"""Held-out samples sent to a server through the boto3 `sagemaker-runtime` client, one file a call.

`EndpointClient(url=...)` posts to the runtime path `/endpoints/<name>/invocations`, the code path a
deployed endpoint is called through. Latency is measured around each call as the client sees it; the
first call (connection set-up, lazy initialisation) is a warm-up and is not counted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from local_mode.errors import LocalModeError
from local_mode.progress import Progress
from local_mode.samples import Sample


@dataclass(frozen=True)
class Prediction:
    file: str
    label: str
    predicted: str | None
    probability: float | None
    latency_ms: float
    error: str | None = None


@dataclass
class InvocationSummary:
    endpoint: str
    url: str
    num_samples: int
    accuracy: float
    errors: int
    latency_ms: dict[str, float]
    predictions: list[Prediction] = field(default_factory=list)

    def as_dict(self, with_predictions: bool = False) -> dict[str, Any]:
        values = asdict(self)
        if not with_predictions:
            values.pop("predictions")
        return values


def latency_percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    if not latencies_ms:
        return {}
    values = np.asarray(latencies_ms)
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p95": round(float(np.percentile(values, 95)), 2),
        "p99": round(float(np.percentile(values, 99)), 2),
        "mean": round(float(values.mean()), 2),
        "max": round(float(values.max()), 2),
    }


def invoke_samples(url: str, endpoint: str, samples: Sequence[Sample], description: str) -> InvocationSummary:
    from inference.client import EndpointClient, EndpointUnreachable, InputRefused, InvocationError

    client = EndpointClient(endpoint, url=url, retries=2, timeout_s=30.0)
    predictions: list[Prediction] = []
    with Progress(description, len(samples)) as progress:
        for index, sample in enumerate(samples):
            started = time.perf_counter()
            try:
                if index == 0:
                    client.predict_file(sample.path)  # warm-up, not counted
                    started = time.perf_counter()
                answer = client.predict_file(sample.path)[0]
                predictions.append(
                    Prediction(
                        str(sample.path),
                        sample.label,
                        answer["label"],
                        round(float(answer["probability"]), 4),
                        (time.perf_counter() - started) * 1000,
                    )
                )
            except (InvocationError, InputRefused) as error:
                predictions.append(
                    Prediction(
                        str(sample.path), sample.label, None, None, (time.perf_counter() - started) * 1000, str(error)
                    )
                )
            except EndpointUnreachable as error:
                raise LocalModeError(
                    f"the server at {url} stopped answering: {error}", "see the server log named below and run again"
                ) from None
            done = index + 1
            note = ""
            if done % 50 == 0 or done == len(samples):
                note = f"{done}/{len(samples)} accuracy={sum(p.predicted == p.label for p in predictions) / done:.3f}"
            progress.advance(note=note)
    answered = [p for p in predictions if p.error is None]
    return InvocationSummary(
        endpoint=endpoint,
        url=f"{url}/endpoints/{endpoint}/invocations",
        num_samples=len(predictions),
        accuracy=round(sum(p.predicted == p.label for p in predictions) / max(1, len(predictions)), 4),
        errors=len(predictions) - len(answered),
        latency_ms=latency_percentiles([p.latency_ms for p in answered]),
        predictions=predictions,
    )


@dataclass(frozen=True)
class Explanation:
    file: str
    label: str
    predicted: str
    probability: float
    method: str
    png: str


def explain_samples(
    url: str,
    endpoint: str,
    samples: Sequence[Sample],
    folder: Path,
    count: int = 3,
    method: str = "integrated_gradients",
) -> list[Explanation]:
    """The first `count` held-out samples with an explanation each, its PNG written under `folder`
    (the client's `--explain` files). A server without an explanation path yields none."""
    from inference.client import EndpointClient, InvocationError, content_type_for
    from inference.explain_files import write_explanation_pngs

    client = EndpointClient(endpoint, url=url, retries=2, timeout_s=60.0)
    folder.mkdir(parents=True, exist_ok=True)
    explained: list[Explanation] = []
    for sample in samples[:count]:
        body = sample.path.read_bytes()
        content_type = content_type_for(sample.path)
        try:
            answer = client.invoke(body, content_type, top_k=1, explain=method)["predictions"]
        except InvocationError as error:
            if "explanation_unavailable" in (error.code, error.message) or "no explanation path" in error.message:
                return explained
            raise
        (png,) = write_explanation_pngs(folder / sample.path.name, body, content_type, answer[:1])
        explained.append(
            Explanation(
                str(sample.path),
                sample.label,
                answer[0]["label"],
                round(float(answer[0]["probability"]), 4),
                method,
                str(png),
            )
        )
    return explained
