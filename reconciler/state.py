"""The state store: a cache of remote ids and statuses, the write journal, adoptions, meta, the apply lock.

`Store` is the interface; `StateStore` keeps it in a SQLite file (the default) and
`reconciler.state_postgres.PostgresStore` in a PostgreSQL schema shared by a team. Both have the
same semantics, proven by one parametrised test suite; `open_store` picks one from the project file.

It is a cache and an audit log, never the only guard against duplicate sends: deterministic
idempotency keys and live reads guard that, so deleting this file is safe.

The journal is append-only: an `intent` row is committed (synchronous=FULL, rollback journal, so
the committed row is in the state file itself) before a write is sent, and an `outcome` row after the answer. An intent with no outcome, or with outcome
`unknown`, is an in-doubt write that the next run resolves by reading before anything is retried.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from reconciler.errors import LockError, StateError
from reconciler.model import Address, StateSettings
from reconciler.snapshot import CacheEntry
from reconciler.state_file import state_file_problem
from reconciler.timeutil import utcnow

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1  # the same number for every backend (state_postgres.MIGRATIONS)
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE objects (address TEXT PRIMARY KEY, provider TEXT NOT NULL, kind TEXT NOT NULL,
        remote_id TEXT, status TEXT, vendor_status TEXT, attempt INTEGER NOT NULL DEFAULT 0,
        observed_at TEXT, extra TEXT NOT NULL DEFAULT '{}', updated_at TEXT NOT NULL);
    CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, apply_id TEXT NOT NULL, at TEXT NOT NULL,
        address TEXT NOT NULL, operation TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
        phase TEXT NOT NULL CHECK (phase IN ('intent', 'outcome')), intent_seq INTEGER,
        result TEXT, remote_id TEXT, request_id TEXT, detail TEXT);
    CREATE INDEX journal_address ON journal (address);
    CREATE INDEX journal_intent ON journal (intent_seq);
    CREATE TABLE locks (id TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE adoptions (address TEXT PRIMARY KEY, remote_id TEXT NOT NULL, at TEXT NOT NULL);
    """,
}
RESOLVED = ("ok", "error", "stale", "resolved_present", "resolved_absent")


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

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def batch(self) -> Any:
        """A context manager: the cache writes inside it commit in one transaction (or none do)."""

    @abstractmethod
    def cache(self) -> dict[Address, CacheEntry]: ...

    @abstractmethod
    def remember(self, address: Address, remote_id: str | None, *, status: str | None = None,
                 vendor_status: str | None = None, attempt: int = 0, observed_at: str | None = None,
                 extra: dict[str, Any] | None = None, unless_updated_after: str | None = None) -> None: ...

    @abstractmethod
    def forget(self, address: Address) -> None: ...

    @abstractmethod
    def intent(self, apply_id: str, address: Address, operation: str, *, attempt: int = 0,
               detail: dict[str, Any] | None = None) -> int: ...

    @abstractmethod
    def outcome(self, intent_seq: int, result: str, *, remote_id: str | None = None, request_id: str | None = None,
                detail: dict[str, Any] | None = None) -> None: ...

    @abstractmethod
    def journal(self, address: str | None = None) -> list[JournalEntry]: ...

    @abstractmethod
    def in_doubt(self) -> list[JournalEntry]: ...

    @abstractmethod
    def sends_since(self, since: datetime) -> dict[str, int]: ...

    def sends_last_24h(self) -> dict[str, int]:
        return self.sends_since(datetime.now(timezone.utc) - timedelta(hours=24))

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
    return JournalEntry(*row[:-1], json.loads(row[-1] or "{}"))


def new_lock_id() -> str:
    return uuid.uuid4().hex[:12]


def open_store(settings: StateSettings, env: Mapping[str, str] | None = None) -> Store:
    """The store the project file names: the SQLite file, or the PostgreSQL schema whose DSN is in `env`."""
    if settings.backend == "postgres":
        from reconciler.state_postgres import PostgresStore

        return PostgresStore.from_settings(settings, os.environ if env is None else env)
    return StateStore(settings.path)


class StateStore(Store):
    """One SQLite state file (the default backend)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        refused = state_file_problem(path)
        if refused:  # before mkdir, chmod or connect: another program's file is never touched
            raise StateError(f"state.path {path}: {refused}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        if fresh:  # create with 0600 before SQLite opens it, so no moment exists where others can read it
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=5)
            # A rollback journal, not WAL: every commit lands in state.db itself, so the file alone
            # (what a cache, a backup or a copy takes) holds every committed row, even after kill -9;
            # a WAL left by an older version is checkpointed into it here.
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path}: not a usable state file ({exc})") from exc
        self._lock = threading.RLock()  # re-entrant: batch() holds it across many writes

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(f"{self.path}: state schema {version} is newer than this campaignctl understands ({SCHEMA_VERSION}); upgrade campaignctl")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # One script, one transaction: a crash mid-migration leaves the old version intact.
            self._db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[target]}; PRAGMA user_version = {target}; COMMIT;")

    def close(self) -> None:
        self._db.close()

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many cache writes in one transaction: one fsync instead of one per row (a 100k plan spent
        20 s here). Only for cache writes: journal intents must each be durable before their request,
        so other threads wait for the batch instead of joining its transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- cache ----------------------------------------------------------------------------------
    def cache(self) -> dict[Address, CacheEntry]:
        """Every remembered address."""
        rows = self._exec("SELECT address, remote_id, status, vendor_status, attempt, observed_at, extra FROM objects")
        return {
            address: CacheEntry(r, s, v, n, o, tuple(sorted(json.loads(x).items())))
            for a, r, s, v, n, o, x in rows.fetchall() if (address := stored_address(a)) is not None
        }

    def remember(self, address: Address, remote_id: str | None, *, status: str | None = None,
                 vendor_status: str | None = None, attempt: int = 0, observed_at: str | None = None,
                 extra: dict[str, Any] | None = None, unless_updated_after: str | None = None) -> None:
        """Upsert what we know of one address (`observed_at` None keeps the time it was last read).
        `unless_updated_after` (a read's start time) leaves a row
        alone that someone else (a concurrent apply) wrote after that read began: it knows more."""
        guard = " WHERE objects.updated_at <= ?" if unless_updated_after else ""
        self._exec(
            "INSERT INTO objects (address, provider, kind, remote_id, status, vendor_status, attempt, observed_at, extra, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET remote_id=excluded.remote_id, "
            "status=excluded.status, vendor_status=excluded.vendor_status, attempt=excluded.attempt, "
            "observed_at=COALESCE(excluded.observed_at, objects.observed_at), extra=excluded.extra, updated_at=excluded.updated_at" + guard,
            (str(address), address.provider, address.kind, remote_id, status, vendor_status, attempt, observed_at,
             json.dumps(extra or {}, sort_keys=True), utcnow(), *((unless_updated_after,) if guard else ())),
        )

    def forget(self, address: Address) -> None:
        self._exec("DELETE FROM objects WHERE address = ?", (str(address),))

    # -- journal --------------------------------------------------------------------------------
    def intent(self, apply_id: str, address: Address, operation: str, *, attempt: int = 0,
               detail: dict[str, Any] | None = None) -> int:
        """Record, durably, that a write is about to be sent; returns the intent's seq."""
        cur = self._exec(
            "INSERT INTO journal (apply_id, at, address, operation, attempt, phase, detail) VALUES (?, ?, ?, ?, ?, 'intent', ?)",
            (apply_id, utcnow(), str(address), operation, attempt, json.dumps(detail or {}, sort_keys=True)),
        )
        return int(cur.lastrowid or 0)

    def outcome(self, intent_seq: int, result: str, *, remote_id: str | None = None, request_id: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
        """Record what became of an intent: ok, error, unknown, stale, resolved_present, resolved_absent."""
        with self._lock:
            row = self._db.execute("SELECT apply_id, address, operation, attempt FROM journal WHERE seq = ?", (intent_seq,)).fetchone()
            if row is None:
                raise StateError(f"journal has no intent {intent_seq}")
            apply_id, address, operation, attempt = row
            self._db.execute(
                "INSERT INTO journal (apply_id, at, address, operation, attempt, phase, intent_seq, result, remote_id, request_id, detail) "
                "VALUES (?, ?, ?, ?, ?, 'outcome', ?, ?, ?, ?, ?)",
                (apply_id, utcnow(), address, operation, attempt, intent_seq, result, remote_id, request_id,
                 json.dumps(detail or {}, sort_keys=True)),
            )

    def _entries(self, sql: str, args: Iterable[Any] = ()) -> list[JournalEntry]:
        cols = "seq, apply_id, at, address, operation, attempt, phase, intent_seq, result, remote_id, request_id, detail"
        rows = self._exec(f"SELECT {cols} FROM journal {sql}", args).fetchall()
        return [entry_from_row(r) for r in rows]

    def journal(self, address: str | None = None) -> list[JournalEntry]:
        """The journal, oldest first, optionally for one address."""
        if address:
            return self._entries("WHERE address = ? ORDER BY seq", (address,))
        return self._entries("ORDER BY seq")

    def in_doubt(self) -> list[JournalEntry]:
        """Intents whose latest outcome is missing or `unknown`: writes that may or may not have happened."""
        placeholders = ", ".join("?" for _ in RESOLVED)
        return self._entries(
            "WHERE phase = 'intent' AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.intent_seq = journal.seq "
            f"AND o.result IN ({placeholders})) ORDER BY seq", RESOLVED)

    def sends_since(self, since: datetime) -> dict[str, int]:
        """'provider/sequence' -> enrollments sent or possibly sent since `since` (for daily_cap)."""
        stamp = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rows = self._exec(
            "SELECT i.address FROM journal i WHERE i.phase = 'intent' AND i.operation = 'enroll' AND i.at >= ? "
            "AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.intent_seq = i.seq AND o.result IN ('error', 'stale', 'resolved_absent'))",
            (stamp,),
        ).fetchall()
        return count_sends(text for (text,) in rows)

    # -- lock -----------------------------------------------------------------------------------
    def _try_lock(self, holder: str) -> str:
        """A row in the file: it outlives a killed process (then `state unlock` clears it)."""
        lock_id = new_lock_id()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT id, holder, pid, host, since FROM locks").fetchone()
                if row:
                    self._db.execute("ROLLBACK")
                    raise LockError(_lock_message(*row))
                self._db.execute("INSERT INTO locks (id, holder, pid, host, since) VALUES (?, ?, ?, ?, ?)",
                                 (lock_id, holder, os.getpid(), socket.gethostname(), utcnow()))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return lock_id

    def release_lock(self, lock_id: str) -> None:
        self._exec("DELETE FROM locks WHERE id = ?", (lock_id,))

    def current_lock(self) -> dict[str, Any] | None:
        row = self._exec("SELECT id, holder, pid, host, since FROM locks").fetchone()
        return dict(zip(("id", "holder", "pid", "host", "since"), row)) if row else None

    def unlock(self, lock_id: str) -> None:
        """Clear a stale lock by id (`campaignctl state unlock`)."""
        current = self.current_lock()
        if current is None:
            raise LockError("the state is not locked")
        if current["id"] != lock_id:
            raise LockError(f"lock id {lock_id!r} does not match the current lock {current['id']!r}")
        self.release_lock(lock_id)

    # -- meta, adoptions ------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._exec("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self._exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   (key, json.dumps(value)))

    def adopt(self, address: Address, remote_id: str) -> None:
        self._exec("INSERT OR REPLACE INTO adoptions (address, remote_id, at) VALUES (?, ?, ?)", (str(address), remote_id, utcnow()))

    def adopted(self) -> frozenset[Address]:
        found = (stored_address(a) for (a,) in self._exec("SELECT address FROM adoptions").fetchall())
        return frozenset(a for a in found if a is not None)

    def clear_adoption(self, address: Address) -> None:
        self._exec("DELETE FROM adoptions WHERE address = ?", (str(address),))

    # -- whole-state copies ---------------------------------------------------------------------
    def dump(self, table: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._exec(f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {ORDER_BY[table]}")]

    def load(self, rows: Mapping[str, list[tuple[Any, ...]]]) -> None:
        with self.batch():
            for table, cols in TABLES.items():
                marks = ", ".join("?" for _ in cols)
                self._db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows.get(table, []))


def _lock_message(lock_id: str, holder: str, pid: int, host: str, since: str) -> str:
    alive = ""
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            alive = f"; pid {pid} is no longer running, so the lock is stale"
        except PermissionError:
            pass
    return (f"the state is locked by {holder} (pid {pid} on {host}, since {since}, lock id {lock_id}){alive}; "
            f"if no apply is running, clear it with `campaignctl state unlock {lock_id}`; "
            "or pass --lock-timeout SECONDS to wait for it")
