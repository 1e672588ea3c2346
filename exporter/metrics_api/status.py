"""metav1.Status error bodies, as kube-apiserver and every aggregated API server write them."""

from __future__ import annotations

import json

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    413: "RequestEntityTooLarge",
    417: "ExpectationFailed",
    429: "TooManyRequests",
    # no metav1.StatusReason exists for these two; named after the HTTP status
    414: "RequestURITooLong",
    431: "RequestHeaderFieldsTooLarge",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An error answered as a Status body with this HTTP code."""

    def __init__(self, code: int, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict:
        out: dict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": REASONS.get(self.code)
            or ("InternalError" if self.code >= 500 else "BadRequest"),
            "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out


def status_error_body(code: int, message: str) -> tuple[bytes, bytes]:
    """A `Status` for the errors the HTTP server answers before the app (400, 413, 431, ...):
    the listener's `exporter.http.wire.ErrorBody`."""
    return b"application/json", json.dumps(ApiError(code, message).body()).encode()
