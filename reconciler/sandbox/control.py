"""The sandbox control API (`/_sandbox/...` on `sandbox serve`) and its httpx client.

Choices where nothing else decides:
- JSON in and out, no auth: the server binds 127.0.0.1 only, and the sandbox holds no secrets.
- Every control operation runs under the hub lock, so it never interleaves with a vendor request.
- Event results are returned as `str(result)`, the same text the in-process CLI path prints.
- Unknown vendor, unknown event or an unknown object inside an event (KeyError/LookupError) is a
  404; bad arguments (ValueError/TypeError) are a 400. The message is the exception's own text.
- Client errors raise SandboxControlError (a ReconcilerError, so the CLI prints one line) naming
  the URL, the method, the status and the server's message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

from reconciler.errors import ReconcilerError
from reconciler.sandbox.core import Clock, FaultPlan, Hub, parse_duration

PREFIX = "/_sandbox/"


@dataclass
class ControlReply:
    """What a control route answers: a status and a JSON body."""

    status: int
    body: Any


class _Refused(Exception):
    """A control request the server refuses with `status` and `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _message(exc: BaseException) -> str:
    # str(KeyError("x")) is "'x'"; the first argument is the readable message.
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object ({} when empty)."""
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _Refused(400, "body must be a JSON object")
    return data


def handle_control(hub: Hub, method: str, path: str, query_string: str, body: bytes) -> ControlReply:
    """Serve one `/_sandbox/...` request; `path` is the full request path."""
    parts = [p for p in path[len(PREFIX):].split("/") if p]
    query = parse_qs(query_string, keep_blank_values=True)
    vendor = next(iter(query.get("vendor") or []), "") or None
    try:
        return _route(hub, method, parts, vendor, body)
    except _Refused as exc:
        return ControlReply(exc.status, {"error": exc.message})


def _route(hub: Hub, method: str, parts: list[str], vendor: str | None, body: bytes) -> ControlReply:
    name = parts[0] if parts else ""
    allowed = {
        "health": ("GET",),
        "faults": ("GET", "PUT", "POST", "DELETE"),
        "advance": ("POST",),
        "events": ("POST",),
        "requests": ("GET",),
        "sends": ("GET",),
        "rate-limits": ("GET", "POST", "PUT"),
    }.get(name)
    if allowed is None or (name != "events" and len(parts) != 1):
        raise _Refused(404, f"no control endpoint {PREFIX}{'/'.join(parts)}")
    if method not in allowed:
        raise _Refused(405, f"{method} is not allowed on {PREFIX}{name} (use {', '.join(allowed)})")
    if vendor is not None and vendor not in hub.simulators:
        raise _Refused(404, f"unknown vendor {vendor!r}; known: {', '.join(sorted(hub.simulators))}")
    with hub.lock:
        if name == "health":
            return ControlReply(200, {"status": "ok", "vendors": sorted(hub.simulators), "now": _clock(hub).iso()})
        if name == "faults":
            return _faults(hub, method, body)
        if name == "advance":
            return _advance(hub, body)
        if name == "events":
            return _event(hub, parts, body)
        if name == "requests":
            return ControlReply(200, hub.store.requests(vendor))
        if name == "sends":
            sends = hub.store.sends(vendor)
            rows = [{"vendor": v, "sequence_id": s, "contact": c, "count": n} for (v, s, c), n in sends.items()]
            return ControlReply(200, rows)
        return _rate_limits(hub, method, body)


def _clock(hub: Hub) -> Clock:
    # The simulators share one clock (see hub.build_hub); any of them will do.
    return next(iter(hub.simulators.values())).clock


def _faults(hub: Hub, method: str, body: bytes) -> ControlReply:
    if method in ("PUT", "POST", "DELETE"):
        try:
            new = FaultPlan.from_dict(_object(body)) if method != "DELETE" else FaultPlan()
        except (TypeError, ValueError) as exc:
            raise _Refused(400, f"not a fault plan: {exc}") from exc
        hub.faults.release()  # answers the old plan holds go out: it no longer applies
        hub.faults = new
    plan = hub.faults
    return ControlReply(200, {
        "error_rate": plan.error_rate, "drop_rate": plan.drop_rate,
        "commit_timeout_rate": plan.commit_timeout_rate, "latency": plan.latency,
        "scripted": len(plan.script),
    })


def _advance(hub: Hub, body: bytes) -> ControlReply:
    data = _object(body)
    if "duration" not in data:
        raise _Refused(400, 'body needs "duration", e.g. {"duration": "2h"}')
    try:
        seconds = parse_duration(data["duration"])
    except ValueError as exc:
        raise _Refused(400, str(exc)) from exc
    clock = _clock(hub)
    clock.advance(seconds)
    return ControlReply(200, {"advanced": seconds, "now": clock.iso()})


def _event(hub: Hub, parts: list[str], body: bytes) -> ControlReply:
    if len(parts) != 3:
        raise _Refused(404, f"use POST {PREFIX}events/VENDOR/NAME")
    vendor, name = parts[1], parts[2]
    if vendor not in hub.simulators:
        raise _Refused(404, f"unknown vendor {vendor!r}; known: {', '.join(sorted(hub.simulators))}")
    kwargs = _object(body)
    try:
        result = hub.event(vendor, name, **kwargs)
    except (KeyError, LookupError) as exc:
        raise _Refused(404, _message(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise _Refused(400, _message(exc)) from exc
    return ControlReply(200, {"result": str(result)})


def _rate_limits(hub: Hub, method: str, body: bytes) -> ControlReply:
    if method != "GET":
        enabled = _object(body).get("enabled")
        if not isinstance(enabled, bool):
            raise _Refused(400, 'body needs "enabled": true or false')
        for sim in hub.simulators.values():
            sim.rate_limits = enabled
    return ControlReply(200, {"enabled": {name: sim.rate_limits for name, sim in hub.simulators.items()}})


class SandboxControlError(ReconcilerError):
    """A control request to a running sandbox failed (unreachable, or refused with a status)."""

    def __init__(self, url: str, method: str, status: int | None, message: str) -> None:
        where = f"{method} {url}"
        super().__init__(f"sandbox {where}: {message}" if status is None else f"sandbox {where} -> {status}: {message}")
        self.url = url
        self.status = status


class SandboxControl:
    """Client of a running `sandbox serve`: faults, clock, events, request log and send ledger."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url + PREFIX.rstrip("/"), timeout=timeout)

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        url = f"{self.url}{PREFIX}{path}"
        try:
            resp = self._client.request(method, "/" + path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise SandboxControlError(url, method, None, f"not reachable ({type(exc).__name__}: {exc})") from exc
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = None
        if resp.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise SandboxControlError(url, method, resp.status_code,
                                      str(message or resp.text[:200] or resp.reason_phrase))
        return data

    def health(self) -> dict[str, Any]:
        """{"status": "ok", "vendors": [...], "now": ISO time on the sandbox clock}."""
        return self._call("GET", "health")

    def set_faults(self, plan: dict[str, Any] | None) -> dict[str, Any]:
        """Replace the fault plan (FaultPlan.from_dict shape); None clears it."""
        if plan is None:
            return self._call("DELETE", "faults")
        return self._call("PUT", "faults", plan)

    def advance(self, duration: str | float) -> dict[str, Any]:
        """Move the shared simulator clock forward ('90s', '2h', '1d' or seconds)."""
        return self._call("POST", "advance", {"duration": str(duration)})

    def event(self, vendor: str, name: str, **kwargs: Any) -> str:
        """Trigger a simulator event (reply, unsubscribe, move_card, ...); returns what happened."""
        return self._call("POST", f"events/{vendor}/{name}", kwargs)["result"]

    def requests(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """Every request the sandbox logged, oldest first."""
        return self._call("GET", "requests", params={"vendor": vendor} if vendor else None)

    def sends(self, vendor: str | None = None) -> dict[tuple[str, str, str], int]:
        """(vendor, sequence id, contact) -> enrollments ever created; more than 1 is a duplicate send."""
        rows = self._call("GET", "sends", params={"vendor": vendor} if vendor else None)
        return {(r["vendor"], r["sequence_id"], r["contact"]): int(r["count"]) for r in rows}

    def rate_limits(self, enabled: bool) -> None:
        """Switch every simulator's rate limits on or off."""
        self._call("POST", "rate-limits", {"enabled": bool(enabled)})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
