"""metav1.Status error bodies, as kube-apiserver and every aggregated API server write them."""

from __future__ import annotations

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
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
            "reason": REASONS[self.code],
            "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out
