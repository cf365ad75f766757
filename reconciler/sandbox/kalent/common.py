"""Kalent's wire conventions shared by the handlers: envelope, failures, 0-based pagination.

Choices where the docs are silent: validation errors carry `details.issues` ([{path, message}]);
`debugTrackingCode` equals the response's X-Request-Id; a malformed JSON body is a 400
validation_error; page numbers past the end return an empty list with hasNextPage false.
"""

from __future__ import annotations

import uuid
from typing import Any

from reconciler.sandbox.core import BadJson, SimRequest, SimResponse

MAX_PAGE_SIZE = 50


class Fail(Exception):
    """Raised by handlers to answer with an error envelope at once."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def request_id() -> str:
    """A fresh request / debug tracking id."""
    return "req_" + uuid.uuid4().hex[:24]


def envelope_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> SimResponse:
    """{"success": false, "error": {code, message, debugTrackingCode, details?}} with X-Request-Id."""
    rid = request_id()
    error: dict[str, Any] = {"code": code, "message": message, "debugTrackingCode": rid}
    if details is not None:
        error["details"] = details
    return SimResponse(status, {"success": False, "error": error}, {"X-Request-Id": rid})


def ok(data: Any, status: int = 200) -> SimResponse:
    """{"success": true, "data": ...}."""
    return SimResponse(status, {"success": True, "data": data})


def invalid(message: str, issues: list[dict[str, str]] | None = None) -> Fail:
    """A 400 validation_error."""
    return Fail(400, "validation_error", message, {"issues": issues or [{"path": "", "message": message}]})


def body(req: SimRequest) -> dict[str, Any]:
    """The JSON object body; anything else is a validation_error."""
    try:
        data = req.json()
    except BadJson as exc:
        raise invalid(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise invalid("Request body must be a JSON object")
    return data


def allow_params(req: SimRequest, *names: str) -> None:
    """Refuse query parameters a route does not document (400 validation_error naming the first)."""
    unknown = [name for name in req.query if name not in names]
    if unknown:
        raise invalid(f"Unsupported query parameter: {unknown[0]}",
                      [{"path": name, "message": "unsupported query parameter"} for name in unknown])


def _int_param(req: SimRequest, name: str, default: int, low: int, high: int | None) -> int:
    raw = req.q(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"{name} must be an integer {bound}", [{"path": name, "message": f"must be {bound}"}])
    return value


def paginate(req: SimRequest, items: list[Any], *, page_param: str,
             default_size: int) -> tuple[list[Any], dict[str, Any]]:
    """One 0-based page of `items` and its pagination object ({page|pageIndex, pageSize, total, hasNextPage})."""
    page = _int_param(req, page_param, 0, 0, None)
    size = _int_param(req, "pageSize", default_size, 1, MAX_PAGE_SIZE)
    start = page * size
    return items[start:start + size], {page_param: page, "pageSize": size, "total": len(items),
                                       "hasNextPage": start + size < len(items)}
