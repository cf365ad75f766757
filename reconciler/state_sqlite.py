"""The SQLite state store (the default backend): one file holding the cache, journal, locks, meta, adoptions.

Every commit lands in the file itself (rollback journal, synchronous=FULL), so a journal intent is
durable in state.db before its write is sent. The interface and its semantics are in `reconciler.state`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.errors import LockError, StateError
from reconciler.model import Address
from reconciler.state import (
    ORDER_BY,
    RESOLVED,
    SCHEMA_VERSION,
    SENT_NOTHING,
    TABLES,
    JournalEntry,
    Store,
    entry_from_row,
    new_lock_id,
    records_from_rows,
    stored_address,
)
from reconciler.state_file import state_file_problem
from reconciler.state_record import StateRecord
from reconciler.timeutil import utcnow
from reconciler.vocabulary import Operation, Outcome

# The SQLite file's schema, by version (state_postgres.MIGRATIONS has the same versions).
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
    CREATE TABLE locks (id TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
        since TEXT NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE adoptions (address TEXT PRIMARY KEY, remote_id TEXT NOT NULL, at TEXT NOT NULL);
    """,
}


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
        self._cache_rows: Mapping[Address, StateRecord] | None = None  # what cache() read last
        self._cache_version = -1  # the data_version it was read at

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(f"{self.path}: state schema {version} is newer than this campaignctl understands "
                             f"({SCHEMA_VERSION}); upgrade campaignctl")
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
            finally:
                self._cache_rows = None  # rolled back, or written other than by remember (load)
            self._db.execute("COMMIT")

    # -- cache ----------------------------------------------------------------------------------
    def cache(self) -> dict[Address, StateRecord]:
        """Every remembered address (a fresh dict each call: a copy of `cache_view`)."""
        return dict(self.cache_view())

    def cache_view(self) -> Mapping[Address, StateRecord]:
        """Every remembered address, as a read-only view that never changes: a later change reads a new
        mapping instead of altering the one viewed, so no copy is made (250k rows: 10 MB a copy). Read
        again only when the objects table may have changed since the last call: a write through this
        store, or a commit by any other connection (SQLite's data_version); a command asks for it more
        than once (250k rows: 3 s each)."""
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if self._cache_rows is None or self._cache_version != version:
                self._cache_rows = MappingProxyType(self._read_cache())
                self._cache_version = version
            return self._cache_rows

    def _read_cache(self) -> dict[Address, StateRecord]:
        cursor = self._db.execute("SELECT address, remote_id, status, vendor_status, attempt, observed_at, extra "
                                  "FROM objects")
        # In chunks: the rows and their decoded extras are never all in memory at once.
        return records_from_rows(iter(lambda: cursor.fetchmany(10_000), []))

    def remember(self, address: Address, remote_id: str | None, *, status: str | None = None,
                 vendor_status: str | None = None, attempt: int = 0, observed_at: str | None = None,
                 extra: dict[str, Any] | None = None, unless_updated_after: str | None = None) -> None:
        """Upsert what we know of one address (`observed_at` None keeps the time it was last read).
        `unless_updated_after` (a read's start time) leaves a row
        alone that someone else (a concurrent apply) wrote after that read began: it knows more."""
        guard = " WHERE objects.updated_at <= ?" if unless_updated_after else ""
        self._cache_rows = None
        self._exec(
            "INSERT INTO objects (address, provider, kind, remote_id, status, vendor_status, attempt, observed_at, "
            "extra, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET remote_id=excluded.remote_id, "
            "status=excluded.status, vendor_status=excluded.vendor_status, attempt=excluded.attempt, "
            "observed_at=COALESCE(excluded.observed_at, objects.observed_at), extra=excluded.extra, "
            "updated_at=excluded.updated_at" + guard,
            (str(address), address.provider, address.kind, remote_id, status, vendor_status, attempt, observed_at,
             json.dumps(extra or {}, sort_keys=True), utcnow(self.clock), *((unless_updated_after,) if guard else ())),
        )

    def forget(self, address: Address) -> None:
        self._cache_rows = None
        self._exec("DELETE FROM objects WHERE address = ?", (str(address),))

    # -- journal --------------------------------------------------------------------------------
    def intent(self, apply_id: str, address: Address, operation: Operation, *, attempt: int = 0,
               detail: dict[str, Any] | None = None) -> int:
        """Record, durably, that a write is about to be sent; returns the intent's seq."""
        cur = self._exec(
            "INSERT INTO journal (apply_id, at, address, operation, attempt, phase, detail) "
            "VALUES (?, ?, ?, ?, ?, 'intent', ?)",
            (apply_id, utcnow(self.clock), str(address), str(operation), attempt,
             json.dumps(detail or {}, sort_keys=True)),
        )
        return int(cur.lastrowid or 0)

    def outcome(self, intent_seq: int, result: Outcome, *, remote_id: str | None = None, request_id: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
        """Record what became of an intent: ok, error, unknown, stale, resolved_present, resolved_absent."""
        with self._lock:
            row = self._db.execute("SELECT apply_id, address, operation, attempt FROM journal WHERE seq = ?",
                                   (intent_seq,)).fetchone()
            if row is None:
                raise StateError(f"journal has no intent {intent_seq}")
            apply_id, address, operation, attempt = row
            self._db.execute(
                "INSERT INTO journal (apply_id, at, address, operation, attempt, phase, intent_seq, result, remote_id, "
                "request_id, detail) "
                "VALUES (?, ?, ?, ?, ?, 'outcome', ?, ?, ?, ?, ?)",
                (apply_id, utcnow(self.clock), address, operation, attempt, intent_seq, str(result), remote_id,
                 request_id, json.dumps(detail or {}, sort_keys=True)),
            )

    def _entries(self, sql: str, args: Iterable[Any] = ()) -> list[JournalEntry]:
        cols = ("seq, apply_id, at, address, operation, attempt, phase, intent_seq, result, remote_id, "
                "request_id, detail")
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

    def enroll_intents_since(self, since: datetime) -> list[tuple[str, str]]:
        stamp = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rows = self._exec(
            "SELECT i.address, i.at FROM journal i WHERE i.phase = 'intent' AND i.operation = ? AND i.at >= ? "
            "AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.intent_seq = i.seq "
            f"AND o.result IN ({', '.join('?' for _ in SENT_NOTHING)})) ORDER BY i.seq",
            (str(Operation.ENROLL), stamp, *SENT_NOTHING),
        ).fetchall()
        return [(address, at) for address, at in rows]

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
                                 (lock_id, holder, os.getpid(), socket.gethostname(), utcnow(self.clock)))
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
        return dict(zip(("id", "holder", "pid", "host", "since"), row, strict=True)) if row else None

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
        self._exec("INSERT OR REPLACE INTO adoptions (address, remote_id, at) VALUES (?, ?, ?)",
                   (str(address), remote_id, utcnow(self.clock)))

    def adopted(self) -> frozenset[Address]:
        found = (stored_address(a) for (a,) in self._exec("SELECT address FROM adoptions").fetchall())
        return frozenset(a for a in found if a is not None)

    def clear_adoption(self, address: Address) -> None:
        self._exec("DELETE FROM adoptions WHERE address = ?", (str(address),))

    # -- whole-state copies ---------------------------------------------------------------------
    def dump(self, table: str) -> list[tuple[Any, ...]]:
        sql = f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {ORDER_BY[table]}"
        return [tuple(r) for r in self._exec(sql)]

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
