"""Fault injection for the sandbox: status codes, latency, dropped connections, commit-then-timeout."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.core import SimRequest


@dataclass
class Fault:
    """One injected fault: `kind` is 'status' (answer `status`), 'drop' (no answer, nothing done),
    'commit_timeout' (done, but the answer is lost), 'latency' (sleep `seconds`, then answer), or
    'repeat_page' (a read that ignores its page or cursor parameter: a list that never ends)."""

    kind: str
    status: int = 503
    seconds: float = 0.0
    method: str | None = None      # only requests with this method ('WRITE' = any non-GET)
    path: str | None = None        # only paths matching this regex (re.search)
    vendor: str | None = None

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
    """Random faults at configured rates, plus a script of one-shot faults consumed in order."""

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
        only = Fault(**data.pop("only")) if data.get("only") else None
        data.pop("only", None)
        return cls(script=script, only=only, **data)
