"""The words the core shares: plan actions, address kinds, statuses and journal operations.

Each is a `StrEnum`: a member is the very string it stands for (`Action.ENROLL == "enroll"`, same
hash, same JSON), so plan files, reports, golden output and state rows read exactly as before,
and a string read back from any of them converts with `Action(text)` (ValueError if unknown).
"""

from __future__ import annotations

from enum import StrEnum


class Word(StrEnum):
    """A StrEnum whose repr is its string's too: a member inside a dict or list in a message reads
    as it did when it was a plain string ({'status': 'active'})."""

    def __repr__(self) -> str:
        return str.__repr__(self.value)


class Action(Word):
    """What a plan does to one address. The order is the plan's summary order."""

    ENROLL = "enroll"
    RETRY = "retry"
    CREATE = "create"
    UPDATE = "update"
    MOVE = "move"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"
    DELETE = "delete"
    ADOPT = "adopt"
    STOP = "stop"
    RENAME = "rename"  # writes only to the state (the enrollment's row moves to its new address)
    MANUAL = "manual"
    SKIP = "skip"
    DEFER = "defer"

    @property
    def executable(self) -> bool:
        """Whether apply acts on it (manual, skip and defer are reported, never executed)."""
        return self not in (Action.MANUAL, Action.SKIP, Action.DEFER)

    @property
    def sends(self) -> bool:
        """Whether it enrolls someone: sends real messages, cannot be undone."""
        return self in (Action.ENROLL, Action.RETRY)


class Kind(Word):
    """The kind part of an address (`provider.kind[group][key]`)."""

    MEMBERSHIP = "membership"  # a member of a sequence: an enrollment
    CARD = "card"  # a card (or deal, as some vendors call it) in a pipeline
    BLUEPRINT = "blueprint"  # a vendor sequence definition declared as code
    CONTACT = "contact"  # a state row only: the vendor's own id of a declared person


class MemberStatus(Word):
    """The neutral status every provider maps its vendor's enrollment statuses to."""

    ACTIVE = "active"  # may still send
    PAUSED = "paused"  # will not send until someone resumes it
    FINISHED = "finished"  # completed, stopped, cancelled, replied
    FAILED = "failed"  # the vendor could not run it; `unreachable` says whether retrying can help


# Not a status: a state row recording only that a member was read as absent, and since when.
UNSEEN = "unseen"


class ApplyStatus(Word):
    """What became of one change in an apply."""

    OK = "ok"
    FAILED = "failed"
    STALE = "stale"  # its precondition no longer held: not attempted
    UNKNOWN = "unknown"  # sent, answer lost, not settled yet: the next run settles it by reading
    SKIPPED = "skipped"  # not attempted because something it needs failed
    INTERRUPTED = "interrupted"  # not started (or not sent) because apply was interrupted


class Operation(Word):
    """The operation a journal intent records, before its write is sent."""

    ENROLL = "enroll"
    STOP = "stop"
    CREATE = "create"  # card operations carry the action's own name
    UPDATE = "update"
    MOVE = "move"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"
    DELETE = "delete"
    ADOPT = "adopt"
    CREATE_BLUEPRINT = "create_blueprint"
    UPDATE_BLUEPRINT = "update_blueprint"


CARD_OPERATIONS = frozenset({Operation.CREATE, Operation.UPDATE, Operation.MOVE, Operation.ARCHIVE,
                             Operation.UNARCHIVE, Operation.DELETE, Operation.ADOPT})
BLUEPRINT_OPERATIONS = frozenset({Operation.CREATE_BLUEPRINT, Operation.UPDATE_BLUEPRINT})


class Outcome(Word):
    """What a journal outcome row records of its intent."""

    OK = "ok"
    ERROR = "error"  # refused by the vendor, or stopped before its request left: nothing happened
    UNKNOWN = "unknown"  # the answer was lost: in doubt until a read settles it
    STALE = "stale"
    RESOLVED_PRESENT = "resolved_present"  # a read after a lost answer found the write done
    RESOLVED_ABSENT = "resolved_absent"  # a read after a lost answer proved it never happened


# Outcomes that settle an intent; an intent without one of them is in doubt.
SETTLED = (Outcome.OK, Outcome.ERROR, Outcome.STALE, Outcome.RESOLVED_PRESENT, Outcome.RESOLVED_ABSENT)

__all__ = ["BLUEPRINT_OPERATIONS", "CARD_OPERATIONS", "SETTLED", "UNSEEN", "Action", "ApplyStatus", "Kind",
           "MemberStatus", "Operation", "Outcome", "Word"]
