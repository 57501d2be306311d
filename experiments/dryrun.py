"""`--dry-run`: the SDK builds its requests as usual, against a boto3 session that records each one
and sends none.

The recording session has placeholder credentials and its own clients, so not even the user's
SageMaker client is touched. Each SDK step stops at its first API call (`RequestCaptured`), so the
SDK never acts on a made-up response; steps that create several resources are run one by one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session


class RequestCaptured(Exception):
    """Raised from inside botocore, after serialization and before signing or sending."""


class SendRefused(RuntimeError):
    """A request got past the recorder: a bug, never sent."""


@dataclass
class RecordedRequest:
    service: str
    operation: str
    body: dict[str, Any]

    def render(self) -> str:
        return f"{self.service}.{self.operation}\n{json.dumps(self.body, indent=2, sort_keys=True, default=str)}"


@dataclass
class RecordingSession:
    region: str
    # The user's session's botocore loader, so the service models are not parsed a second time.
    loader: Any = None
    requests: list[RecordedRequest] = field(default_factory=list)

    @classmethod
    def like(cls, session: boto3.Session) -> RecordingSession:
        return cls(session.region_name, loader=session._session.get_component("data_loader"))

    def __post_init__(self) -> None:
        core = botocore.session.Session()
        if self.loader is not None:
            core.register_component("data_loader", self.loader)
        self.boto_session = boto3.Session(
            aws_access_key_id="dry-run", aws_secret_access_key="dry-run", region_name=self.region, botocore_session=core
        )
        self.boto_session.events.register("before-call", self._capture)
        self.boto_session.events.register("before-send", self._refuse)

    def _capture(self, model, params, **_: Any) -> None:
        body = params.get("body") or b"{}"
        try:
            parsed = json.loads(body) if isinstance(body, (bytes, str)) and body else dict(body or {})
        except ValueError:
            parsed = {"url_path": params.get("url_path"), "query": params.get("query_string")}
        self.requests.append(RecordedRequest(model.service_model.service_id.hyphenize(), model.name, parsed))
        raise RequestCaptured(model.name)

    @staticmethod
    def _refuse(request, **_: Any) -> None:
        raise SendRefused(f"dry run: refused to send {request.method} {request.url}")

    def capture(self, step: Callable[[], object]) -> RecordedRequest:
        """Run one SDK step up to its first API request and return that request."""
        before = len(self.requests)
        try:
            step()
        except RequestCaptured:
            pass
        if len(self.requests) == before:
            raise SendRefused("dry run: the SDK step made no API request")
        return self.requests[-1]

    def render(self) -> str:
        return "\n\n".join(r.render() for r in self.requests)
