"""The exception tree. Library code raises these; only cli.py turns them into output and exit codes.

    ReconcilerError
    ├── ManifestError            one or more located problems (file:line:col: message)
    ├── ConfigError              project-level configuration problem (missing env var, bad provider)
    ├── ProviderError            vendor, method, path, status, code, message, request id
    │   ├── AuthError            401 / 403
    │   ├── NotFoundError        404
    │   ├── ConflictError        409
    │   ├── RateLimitedError     429 (retry_after)
    │   ├── ValidationFailed     400 / 422 rejected by the vendor
    │   ├── PaymentRequired      402 (plan upgrade, credits)
    │   ├── ServerError          5xx
    │   ├── PaginationError      a list that does not end (same cursor or page again, more pages than its total)
    │   ├── Interrupted          apply was interrupted (SIGINT/SIGTERM) before this request was sent
    │   ├── MalformedResponse    a 2xx read whose body is not the documented shape: proves nothing
    │   ├── UnsupportedOperation the vendor has no API for this (also a ConfigError); nothing was sent
    │   └── OutcomeUnknown       the request may have been committed; resolve by reading
    ├── PlanError                the plan cannot be computed (unknown stage, unresolvable name)
    ├── UnsafePlanError          a safety limit refuses the plan (--allow-large / --force)
    ├── StaleChangeError         a saved-plan precondition no longer holds
    ├── LockError                another apply holds the state lock
    └── StateError               the state store is unreadable or from a newer version
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ReconcilerError(Exception):
    """Base of every error campaignctl raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a manifest or project file."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ManifestError(ReconcilerError):
    """Manifests failed validation; carries every problem found, sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(ReconcilerError):
    """The project configuration or environment is not usable (e.g. a missing API key variable)."""


class ProviderError(ReconcilerError):
    """A vendor API call failed; carries where and why, never the API key."""

    def __init__(
        self,
        vendor: str,
        method: str,
        path: str,
        status: int | None,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.vendor = vendor
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.vendor_message = message
        self.request_id = request_id
        self.details = details or {}
        status_text = str(status) if status is not None else "no response"
        text = f"{vendor}: {method} {path} -> {status_text}"
        if code:
            text += f" {code}"
        text += f": {message}"
        if request_id:
            text += f" ({request_id})"
        super().__init__(text)


class AuthError(ProviderError):
    """401/403: the key is missing, invalid, or lacks the scope."""


class NotFoundError(ProviderError):
    """404 from the vendor."""


class ConflictError(ProviderError):
    """409 from the vendor."""


class RateLimitedError(ProviderError):
    """429 from the vendor after retries ran out."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ValidationFailed(ProviderError):
    """400/422: the vendor rejected the request body."""


class PaymentRequired(ProviderError):
    """402: plan upgrade or credits required."""


class ServerError(ProviderError):
    """5xx from the vendor."""


class PaginationError(ProviderError):
    """A list endpoint that would page for ever: the same cursor or page again, or more pages than
    the total it lists allows. Raised after a bounded number of requests instead of looping."""


class Interrupted(ProviderError):
    """Apply was interrupted (SIGINT/SIGTERM) before this request left: nothing was sent."""


class MalformedResponse(ProviderError):
    """A 2xx answer to a read whose body is not the documented shape (not JSON, `{}`, no list key).

    It proves nothing: reading it as "no enrollments" or "no sequence" would enroll people again,
    so it is an error and the command stops."""


class UnsupportedOperation(ProviderError, ConfigError):
    """The vendor has no API for this operation (blueprints, cards, or a card archive or delete, on a
    vendor without them); nothing was sent. A ProviderError, so apply reports
    the one change `failed` and goes on; also a ConfigError, since the fix is in the project (declare
    it on a provider whose vendor can do it)."""


class OutcomeUnknown(ProviderError):
    """A write was sent but no answer came back: it may have been committed. Resolve by reading."""


class PlanError(ReconcilerError):
    """The plan cannot be computed (e.g. an unknown stage name)."""


class UnsafePlanError(ReconcilerError):
    """A safety limit refuses the plan; the message names the flag that overrides it."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(reasons))


class StaleChangeError(ReconcilerError):
    """A saved plan's precondition no longer holds against live state."""


class LockError(ReconcilerError):
    """Another apply holds the state lock."""


class StateError(ReconcilerError):
    """The state store cannot be used."""
