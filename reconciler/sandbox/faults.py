"""Fault injection for the sandbox: status codes, latency, dropped connections, commit-then-timeout,
answers that are not what the vendor documents, and delayed asynchronous dispatch.

Kinds of `Fault`:
- 'status': answer `status` in the vendor's error envelope (`code`, `message` optional), nothing done.
- 'drop': no answer, nothing done.
- 'commit_timeout': done, but the answer is lost.
- 'latency': sleep `seconds`, then answer.
- 'hold': done, then the answer waits until the fault plan is replaced or cleared, at most `seconds`
  (60 when 0): a write held in flight, so a test can act while a run is mid-apply, however slow
  the machine.
- 'body': done, then the answer's body is replaced: by `body` (any JSON value, e.g. {}) or by the raw
  text `raw` (an HTML maintenance page, sent with `content_type`), with status `status` when given
  (a 2xx) or else the real one. What a proxy, a maintenance page or a half-deployed vendor returns.
- 'strip': done, then the dotted key `key` (e.g. 'data', 'data.sequence') is removed from the JSON
  answer: a 2xx that lacks the documented list or status key.
- 'repeat_page': a read that ignores its page or cursor parameter: a list that never ends.
- 'dispatch_delay': done, with an asynchronous start becoming visible `seconds` after the
  call instead of the seed's configured delay.

A scripted fault applies to the next `times` matching requests (None: every one, until cleared).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.request import SimRequest

KINDS = ("status", "drop", "commit_timeout", "latency", "hold", "repeat_page", "body", "strip", "dispatch_delay")


@dataclass
class Fault:
    """One injected fault (see the module docstring for the kinds)."""

    kind: str
    status: int | None = None      # 'status': the error status (default 503); 'body': the 2xx to answer
    seconds: float = 0.0
    method: str | None = None      # only requests with this method ('WRITE' = any non-GET)
    path: str | None = None        # only paths matching this regex (re.search)
    vendor: str | None = None
    code: str | None = None        # 'status': the vendor error code (default 'injected_fault')
    message: str | None = None     # 'status': the vendor error message
    body: Any = None               # 'body': the JSON value to answer with
    raw: str | None = None         # 'body': raw text to answer with instead (not JSON)
    content_type: str = "text/html; charset=utf-8"
    key: str | None = None         # 'strip': dotted key to remove
    times: int | None = 1          # scripted: matching requests it applies to (None: all)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind == "strip" and not self.key:
            raise ValueError("a 'strip' fault needs `key` (e.g. 'data' or 'data.sequence')")
        if self.status is not None and self.kind == "body" and not 200 <= self.status < 300:
            raise ValueError("a 'body' fault answers a 2xx status")

    def matches(self, vendor: str, req: SimRequest) -> bool:
        if self.vendor and self.vendor != vendor:
            return False
        if self.method == "WRITE" and req.method in ("GET", "HEAD"):
            return False
        if self.method and self.method != "WRITE" and self.method != req.method:
            return False
        return not self.path or re.search(self.path, req.path) is not None


@dataclass
class FaultPlan:
    """Random faults at configured rates, plus a script of faults consumed in order."""

    error_rate: float = 0.0
    error_status: int = 503
    drop_rate: float = 0.0
    commit_timeout_rate: float = 0.0
    latency: float = 0.0
    repeat_page_rate: float = 0.0  # reads answered with the first page whatever page they ask for
    only: Fault | None = None      # restrict random faults to matching requests (method/path/vendor)
    seed: int = 0
    script: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._released = threading.Event()

    def hold(self, fault: Fault) -> None:
        """Keep a 'hold' fault's answer until this plan is replaced or cleared (`release`)."""
        self._released.wait(fault.seconds or 60)

    def release(self) -> None:
        """This plan is being replaced: answers it holds go out now."""
        self._released.set()

    def pick(self, vendor: str, req: SimRequest) -> Fault | None:
        """The fault to apply to this request, if any (scripted faults first)."""
        for i, fault in enumerate(self.script):
            if fault.matches(vendor, req):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self.script[i]
                return fault
        if self.only and not self.only.matches(vendor, req):
            return None
        # Rolled only when configured, so seeded plans without it see the same faults as before.
        if self.repeat_page_rate and req.method == "GET" and self._rng.random() < self.repeat_page_rate:
            return Fault("repeat_page")
        roll = self._rng.random()
        if roll < self.drop_rate:
            return Fault("drop")
        roll -= self.drop_rate
        if roll < self.commit_timeout_rate and req.method not in ("GET", "HEAD"):
            return Fault("commit_timeout")
        roll -= self.commit_timeout_rate
        if roll < self.error_rate:
            return Fault("status", status=self.error_status)
        if self.latency:
            return Fault("latency", seconds=self.latency)
        return None

    @classmethod
    def from_dict(cls, data: Any) -> FaultPlan:
        """Build from the JSON shape used by the control API and `sandbox serve --faults`; a bad shape is a
        ValueError naming the key (`only` and `script` items are Fault fields without or with `kind`)."""
        if not isinstance(data, dict):
            raise ValueError("must be a JSON object")
        data = dict(data)
        _check_keys(data, _PLAN_FIELDS | {"only", "script"}, "")
        for key, value in data.items():
            if key in _RATES or key == "latency":
                _number(key, value, 0, 1 if key in _RATES else None)
            elif key in ("error_status", "seed") and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{key} must be an integer")
        only = data.pop("only", None)
        script = data.pop("script", None) or []
        if not isinstance(script, list):
            raise ValueError("script must be a list of faults")
        return cls(script=[_fault(f, f"script[{i}]: ", needs_kind=True) for i, f in enumerate(script)],
                   only=_fault(only, "only: ", needs_kind=False) if only else None, **data)


_RATES = ("error_rate", "drop_rate", "commit_timeout_rate", "repeat_page_rate")
_PLAN_FIELDS = {"error_rate", "error_status", "drop_rate", "commit_timeout_rate", "latency", "repeat_page_rate", "seed"}
_FAULT_FIELDS = {f.name for f in fields(Fault)}


def _check_keys(data: dict[str, Any], known: set[str], where: str) -> None:
    for key in data:
        if key not in known:
            raise ValueError(f"{where}unknown key {key!r} (known: {', '.join(sorted(known))})")


def _number(key: str, value: Any, low: float, high: float | None) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{key} must be a number")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{key} must be between {low} and {high}" if high is not None else f"{key} must be >= {low}")


def _fault(data: Any, where: str, *, needs_kind: bool) -> Fault:
    """A scripted fault (`kind` required) or the `only` filter (method/path/vendor; no kind)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}must be a JSON object")
    # `only` takes `kind` too (ignored: it filters, the rates pick the fault), as older callers send it.
    _check_keys(data, _FAULT_FIELDS if needs_kind else {"kind", "method", "path", "vendor"}, where)
    if needs_kind and data.get("kind") not in KINDS:
        raise ValueError(f'{where}needs "kind", one of {", ".join(KINDS)}')
    for key in ("method", "path", "vendor"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"{where}{key} must be a string")
    if data.get("path"):
        try:
            re.compile(data["path"])
        except re.error as exc:
            raise ValueError(f"{where}path is not a regular expression: {exc}") from None
    if "seconds" in data:
        _number(where + "seconds", data["seconds"], 0, None)
    try:
        return Fault(**{"kind": "status", **data})
    except ValueError as exc:
        raise ValueError(f"{where}{exc}") from None


def strip_key(body: Any, key: str) -> Any:
    """A copy of `body` without the dotted `key` (unchanged when it is not there)."""
    if not isinstance(body, dict):
        return body
    head, _, rest = key.partition(".")
    if head not in body:
        return body
    copy = dict(body)
    if rest:
        copy[head] = strip_key(copy[head], rest)
    else:
        del copy[head]
    return copy
