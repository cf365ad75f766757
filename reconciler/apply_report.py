"""What one apply did: a ChangeResult per change, and the ApplyReport that sums them up (its summary
line, its JSON form for `--report`). Kept apart from the apply engine that fills it (reconciler/apply.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.vocabulary import Action, ApplyStatus

DONE_WORDS = {Action.ENROLL: "enrolled", Action.RETRY: "re-enrolled", Action.CREATE: "created",
              Action.UPDATE: "updated", Action.MOVE: "moved", Action.UNARCHIVE: "unarchived", Action.ADOPT: "adopted",
              Action.ARCHIVE: "archived", Action.DELETE: "deleted", Action.STOP: "stopped", Action.RENAME: "renamed"}


@dataclass
class ChangeResult:
    """What happened to one change."""

    address: str
    action: Action
    status: ApplyStatus
    message: str = ""
    remote_id: str | None = None
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ApplyReport:
    """Per-change results of one apply."""

    apply_id: str
    started_at: str
    finished_at: str = ""
    results: list[ChangeResult] = field(default_factory=list)

    def count(self, status: ApplyStatus) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        return all(r.status in (ApplyStatus.OK, ApplyStatus.SKIPPED) for r in self.results)

    def summary_line(self) -> str:
        done: dict[str, int] = {}
        for r in self.results:
            if r.status == ApplyStatus.OK:
                done[DONE_WORDS[r.action]] = done.get(DONE_WORDS[r.action], 0) + 1
        parts = [f"{done[w]:,} {w}" for w in DONE_WORDS.values() if w in done]  # a fixed order, like the plan's
        words = {ApplyStatus.UNKNOWN: "outcome unknown", ApplyStatus.INTERRUPTED: "not started (interrupted)"}
        for status in (ApplyStatus.FAILED, ApplyStatus.UNKNOWN, ApplyStatus.STALE, ApplyStatus.SKIPPED,
                       ApplyStatus.INTERRUPTED):
            if self.count(status):
                parts.append(f"{self.count(status):,} {words.get(status, status)}")
        head = "Apply interrupted: " if self.count(ApplyStatus.INTERRUPTED) else "Apply complete: "
        return head + (", ".join(parts) if parts else "nothing to do") + "."

    def to_dict(self) -> dict[str, Any]:
        return {"apply_id": self.apply_id, "started_at": self.started_at, "finished_at": self.finished_at,
                "summary": self.summary_line(), "results": [r.to_dict() for r in self.results]}


Progress = Callable[[ChangeResult], None]
