"""Errors a client caused, each with the HTTP status it is answered with."""

from __future__ import annotations


class RequestError(Exception):
    """A request the server refuses; answered as JSON `{"error": code, "message": message}`."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(RequestError):
    """The body or a header cannot be read (not an image, not a WAV, not JSON, ...)."""


class NotAcceptable(RequestError):
    status = 406
    code = "not_acceptable"


class RequestTimeout(RequestError):
    """The body did not arrive in time (RFC 9110 section 15.5.9: the server closes the connection)."""

    status = 408
    code = "request_timeout"


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class WrongShape(RequestError):
    """The body was read, but its arrays do not fit the model's input contract."""

    status = 422
    code = "wrong_shape"


class DeadlineExceeded(RequestError):
    """The answer was not ready within the request deadline (RFC 9110 section 15.6.4: 503, the server
    cannot handle the request now; a retry may succeed)."""

    status = 503
    code = "deadline_exceeded"


class ArtifactError(Exception):
    """The model directory does not hold a loadable artifact (a deployment fault, not a client's)."""
