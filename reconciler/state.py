"""The state store's interface: a cache of remote ids and statuses, the write journal, adoptions, meta, the lock.

`Store` is the interface, with the helpers its backends share; `reconciler.state_sqlite.StateStore`
keeps it in a SQLite file (the default) and `reconciler.state_postgres.PostgresStore` in a PostgreSQL
schema shared by a team. Both have the same semantics, proven by one parametrised test suite;
`open_store` picks one from the project file.

It is a cache and an audit log, never the only guard against duplicate sends: deterministic
idempotency keys and live reads guard that, so deleting the state is safe.

The journal is append-only: an `intent` row is committed durably before a write is sent, and an
`outcome` row after the answer. An intent with no outcome, or with outcome `unknown`, is an
in-doubt write that the next run resolves by reading before anything is retried.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.errors import LockError, StateError
from reconciler.model import Address, StateSettings
from reconciler.state_record import StateRecord
from reconciler.timeutil import SYSTEM_CLOCK, Clock, utcnow  # noqa: F401  (utcnow re-exported: importers use it)
from reconciler.vocabulary import SETTLED, Operation, Outcome

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1  # the same number for every backend (state_sqlite.MIGRATIONS, state_postgres.MIGRATIONS)
RESOLVED = tuple(str(o) for o in SETTLED)  # an intent without one of these outcomes is in doubt
# An enroll intent with one of these outcomes sent nothing: it does not count against a daily cap.
SENT_NOTHING = (str(Outcome.ERROR), str(Outcome.STALE), str(Outcome.RESOLVED_ABSENT))


@dataclass(frozen=True)
class JournalEntry:
    """One journal row."""

    seq: int
    apply_id: str
    at: str
    address: str
    operation: str
    attempt: int
    phase: str
    intent_seq: int | None
    result: str | None
    remote_id: str | None
    request_id: str | None
    detail: dict[str, Any]


# Every row of a state, by table, in these column orders: what `state migrate` copies and compares.
TABLES: dict[str, tuple[str, ...]] = {
    "objects": ("address", "provider", "kind", "remote_id", "status", "vendor_status", "attempt", "observed_at",
                "extra", "updated_at"),
    "journal": ("seq", "apply_id", "at", "address", "operation", "attempt", "phase", "intent_seq", "result",
                "remote_id", "request_id", "detail"),
    "adoptions": ("address", "remote_id", "at"),
    "meta": ("key", "value"),
}
ORDER_BY = {"objects": "address", "journal": "seq", "adoptions": "address", "meta": "key"}
MOVED_KEY = "state.moved_to"  # set on a state `state migrate` moved elsewhere: it takes no apply
LOCK_POLL_SECONDS = 0.5


class Store(ABC):
    """The state interface. Thread-safe (apply runs a worker per provider).

    Journal intents are durable when `intent` returns; cache writes inside `batch()` commit together."""

    where: str  # for messages: a file path, or host/database/schema/project (never a secret)
    clock: Clock = SYSTEM_CLOCK  # stamps the journal, cache rows and the lock; open_store sets the session's

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def batch(self) -> Any:
        """A context manager: the cache writes inside it commit in one transaction (or none do)."""

    @abstractmethod
    def cache(self) -> dict[Address, StateRecord]:
        """Every remembered address, in a dict of the caller's own."""

    def cache_view(self) -> Mapping[Address, StateRecord]:
        """Every remembered address, for a caller that only reads it (a backend may hand out one
        unchanging mapping instead of a copy per call)."""
        return self.cache()

    @abstractmethod
    def remember(self, address: Address, remote_id: str | None, *, status: str | None = None,
                 vendor_status: str | None = None, attempt: int = 0, observed_at: str | None = None,
                 extra: dict[str, Any] | None = None, unless_updated_after: str | None = None) -> None: ...

    @abstractmethod
    def forget(self, address: Address) -> None: ...

    @abstractmethod
    def intent(self, apply_id: str, address: Address, operation: Operation, *, attempt: int = 0,
               detail: dict[str, Any] | None = None) -> int: ...

    @abstractmethod
    def outcome(self, intent_seq: int, result: Outcome, *, remote_id: str | None = None, request_id: str | None = None,
                detail: dict[str, Any] | None = None) -> None: ...

    @abstractmethod
    def journal(self, address: str | None = None) -> list[JournalEntry]: ...

    @abstractmethod
    def in_doubt(self) -> list[JournalEntry]: ...

    @abstractmethod
    def enroll_intents_since(self, since: datetime) -> list[tuple[str, str]]:
        """(address, time) of every enrollment intent since `since` that sent or may have sent (any
        outcome but those that sent nothing), oldest first."""

    def sends_since(self, since: datetime) -> dict[str, int]:
        """'provider/sequence' -> enrollments sent or possibly sent since `since` (for daily_cap)."""
        return count_sends(address for address, _ in self.enroll_intents_since(since))

    def starts_since(self, since: datetime) -> dict[str, str]:
        """Address -> the time of its latest enrollment intent since `since` that sent or may have sent:
        the journal's own record of recent starts."""
        return dict(self.enroll_intents_since(since))  # oldest first: the latest stays

    def sends_last_24h(self) -> dict[str, int]:
        return self.sends_since(self.clock.now() - timedelta(hours=24))

    # -- lock -----------------------------------------------------------------------------------
    def acquire_lock(self, holder: str, *, timeout: float = 0.0) -> str:
        """Take the apply lock; when another apply holds it, fail at once naming the holder, or wait
        up to `timeout` seconds for it to be released. Returns the lock id (the apply's id).

        A state `state migrate` moved elsewhere is never locked again: an apply writing to it would
        send what the copy never learns of, and the next apply on the copy would send it again."""
        moved = self.get_meta(MOVED_KEY)
        if moved:
            raise StateError(f"{self.where}: `state migrate` copied this state to {moved.get('to')} at "
                             f"{moved.get('at')}; applies use that copy now (point `state:` in campaignctl.yaml "
                             "at it). Nothing was sent")
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                return self._try_lock(holder)
            except LockError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(min(LOCK_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    @abstractmethod
    def _try_lock(self, holder: str) -> str:
        """Take the lock or raise LockError naming its holder."""

    @abstractmethod
    def release_lock(self, lock_id: str) -> None: ...

    @abstractmethod
    def current_lock(self) -> dict[str, Any] | None:
        """The holder of a lock that is in force: id, holder, pid, host, since."""

    @abstractmethod
    def unlock(self, lock_id: str) -> None:
        """Clear a stale lock by id (`campaignctl state unlock`)."""

    # -- meta, adoptions ------------------------------------------------------------------------
    @abstractmethod
    def get_meta(self, key: str, default: Any = None) -> Any: ...

    @abstractmethod
    def set_meta(self, key: str, value: Any) -> None: ...

    @abstractmethod
    def adopt(self, address: Address, remote_id: str) -> None: ...

    @abstractmethod
    def adopted(self) -> frozenset[Address]: ...

    @abstractmethod
    def clear_adoption(self, address: Address) -> None: ...

    # -- whole-state copies (`state migrate`) ---------------------------------------------------
    @abstractmethod
    def dump(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of `table`, columns as in TABLES, ordered by ORDER_BY."""

    @abstractmethod
    def load(self, rows: Mapping[str, list[tuple[Any, ...]]]) -> None:
        """Insert a whole dumped state (journal seqs kept) into this empty store, in one transaction."""

    def is_empty(self) -> bool:
        return not any(self.dump(table) for table in TABLES)


def stored_address(text: str) -> Address | None:
    """A stored address, or None (logged) for a row no address can match: the state must always
    read back, whatever an older version or a hand edit left in it."""
    try:
        return Address.parse(text)
    except ValueError:
        log.warning("state: ignoring a row whose address cannot be read: %r", text[:200])
        return None


def records_from_rows(chunks: Iterable[Sequence[tuple[Any, ...]]]) -> dict[Address, StateRecord]:
    """Cache rows (address, remote_id, status, vendor_status, attempt, observed_at, extra JSON text), in
    chunks, as records by address (a row whose address cannot be read is skipped, logged). Each chunk's
    extras decode as one JSON document, and the statuses, times and vendor sequences that repeat on
    every row are one object per distinct value: 250,000 rows took 386 MB at their peak, 165 MB with
    the statuses and sequences shared, 125 MB with the times shared too."""
    seen: dict[str | None, str | None] = {None: None}

    def shared(text: str | None) -> str | None:
        found = seen.get(text)
        if found is None and text is not None:
            found = seen[text] = text
        return found

    out: dict[Address, StateRecord] = {}
    from_stored = StateRecord.from_stored
    for chunk in chunks:
        extras = json.loads("[" + ",".join(row[6] for row in chunk) + "]")
        for (a, r, s, v, n, o, _), x in zip(chunk, extras, strict=True):
            address = stored_address(a)
            if address is not None:
                out[address] = from_stored(r, s, v, n, o, x, shared)
    return out


def count_sends(addresses: Iterable[str]) -> dict[str, int]:
    """'provider/sequence' -> how many of these membership addresses."""
    out: dict[str, int] = {}
    for text in addresses:
        addr = stored_address(text)
        if addr is None:
            continue
        key = f"{addr.provider}/{addr.group}"
        out[key] = out.get(key, 0) + 1
    return out


def entry_from_row(row: tuple[Any, ...]) -> JournalEntry:
    """A journal row (columns as in TABLES) as a JournalEntry."""
    return JournalEntry(*(*row[:-1], json.loads(row[-1] or "{}")))


def new_lock_id() -> str:
    return uuid.uuid4().hex[:12]


def open_store(settings: StateSettings, env: Mapping[str, str] | None = None, *, clock: Clock | None = None) -> Store:
    """The store the project file names: the SQLite file, or the PostgreSQL schema whose DSN is in `env`.
    `clock` stamps what the store records (journal, cache rows, the lock): the session's clock."""
    store: Store
    if settings.backend == "postgres":
        from reconciler.state_postgres import PostgresStore

        store = PostgresStore.from_settings(settings, os.environ if env is None else env)
    else:
        from reconciler.state_sqlite import StateStore

        store = StateStore(settings.path)
    if clock is not None:
        store.clock = clock
    return store


def __getattr__(name: str) -> Any:
    """`StateStore` and `MIGRATIONS` moved to reconciler.state_sqlite; still importable from here."""
    if name in ("StateStore", "MIGRATIONS"):
        from reconciler import state_sqlite

        return getattr(state_sqlite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
