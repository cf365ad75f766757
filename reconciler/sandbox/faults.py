"""Fault injection for the sandbox: status codes, latency, dropped connections, commit-then-timeout,
answers that are not what the vendor documents, and delayed asynchronous dispatch.

Kinds of `Fault`:
- 'status': answer `status` in the vendor's error envelope (`code`, `message` optional), nothing done.
- 'drop': no answer, nothing done.
- 'commit_timeout': done, but the answer is lost.
- 'latency': sleep `seconds`, then answer.
- 'body': done, then the answer's body is replaced: by `body` (any JSON value, e.g. {}) or by the raw
  text `raw` (an HTML maintenance page, sent with `content_type`), with status `status` when given
  (a 2xx) or else the real one. What a proxy, a maintenance page or a half-deployed vendor returns.
- 'strip': done, then the dotted key `key` (e.g. 'data', 'data.sequence') is removed from the JSON
  answer: a 2xx that lacks the documented list or status key.
- 'repeat_page': a read that ignores its page or cursor parameter: a list that never ends.
- 'dispatch_delay': done, with an asynchronous start (Kalent) becoming visible `seconds` after the
  call instead of the seed's configured delay.

A scripted fault applies to the next `times` matching requests (None: every one, until cleared).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.core import SimRequest

KINDS = ("status", "drop", "commit_timeout", "latency", "repeat_page", "body", "strip", "dispatch_delay")


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
    def from_dict(cls, data: dict[str, Any]) -> "FaultPlan":
        """Build from the JSON shape used by the control API and `sandbox serve --faults`."""
        data = dict(data)
        script = [Fault(**f) for f in data.pop("script", [])]
        only = Fault(**{"kind": "status", **data.pop("only")}) if data.get("only") else None
        data.pop("only", None)
        return cls(script=script, only=only, **data)


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
