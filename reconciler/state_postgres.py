"""The state store on PostgreSQL: one schema shared by a team and by CI, several projects apart.

Same semantics as the SQLite file (the `Store` interface), with these choices:

- One connection, autocommit: an `intent` is committed when `intent()` returns, before the write
  it announces is sent. The connection is never re-opened behind the caller's back: if the
  server goes away mid-apply, every later intent fails, so nothing more can be sent, and the
  writes whose outcome was not recorded stay in doubt for the next run to resolve by reading.
- The apply lock is a session-level advisory lock on that same connection: a killed apply's
  session ends and the lock is free at once, with no `state unlock`. A row in `locks` names the
  holder (host, pid, apply id, since) for the message a second apply prints.
- Every row carries the `project` key; the journal's `seq` comes from one sequence per schema.
- The DSN is read from the environment and never printed: messages name host and database only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import conninfo

from reconciler.errors import ConfigError, LockError, StateError
from reconciler.model import Address, StateSettings
from reconciler.secrets import redact, register
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
from reconciler.state_record import StateRecord
from reconciler.timeutil import utcnow
from reconciler.vocabulary import Operation, Outcome

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Versioned like the SQLite file's migrations; SCHEMA_VERSION is the same number for both backends.
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE SEQUENCE {s}.journal_seq;
    CREATE TABLE {s}.objects (project TEXT NOT NULL, address TEXT NOT NULL, provider TEXT NOT NULL,
        kind TEXT NOT NULL, remote_id TEXT, status TEXT, vendor_status TEXT, attempt INTEGER NOT NULL DEFAULT 0,
        observed_at TEXT, extra TEXT NOT NULL DEFAULT '{}', updated_at TEXT NOT NULL, PRIMARY KEY (project, address));
    CREATE TABLE {s}.journal (project TEXT NOT NULL, seq BIGINT NOT NULL DEFAULT nextval('{s}.journal_seq'),
        apply_id TEXT NOT NULL, at TEXT NOT NULL, address TEXT NOT NULL, operation TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0, phase TEXT NOT NULL CHECK (phase IN ('intent', 'outcome')),
        intent_seq BIGINT, result TEXT, remote_id TEXT, request_id TEXT, detail TEXT, PRIMARY KEY (project, seq));
    CREATE INDEX journal_address ON {s}.journal (project, address);
    CREATE INDEX journal_intent ON {s}.journal (project, intent_seq);
    CREATE TABLE {s}.locks (project TEXT PRIMARY KEY, id TEXT NOT NULL, holder TEXT NOT NULL, pid INTEGER NOT NULL,
        host TEXT NOT NULL, since TEXT NOT NULL);
    CREATE TABLE {s}.meta (project TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (project, key));
    CREATE TABLE {s}.adoptions (project TEXT NOT NULL, address TEXT NOT NULL, remote_id TEXT NOT NULL,
        at TEXT NOT NULL, PRIMARY KEY (project, address));
    """,
}
JOURNAL_COLS = ", ".join(TABLES["journal"])


def describe_dsn(dsn: str) -> str:
    """The scheme and host of a DSN: all a message may say about it."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "an unparsable DSN"
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    return "postgresql://" + "".join(c for c in host if c.isprintable() and not c.isspace())[:100]


def scrub(message: str, dsn: str) -> str:
    """A driver message with the DSN's secrets (password, user, the DSN itself) masked."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # The driver quotes the fragment it could not parse, which may be the password: say nothing of it.
        return "the connection string cannot be parsed (it is not shown; check its syntax)"
    text = redact(message.replace(dsn, "<dsn>") if dsn else message)
    for key in ("password", "user"):
        value = parts.get(key)
        if value:
            text = text.replace(str(value), "***")
    return " ".join(text.split())


def register_dsn(dsn: str) -> None:
    """Hide the DSN, and its password, from every message the command line prints."""
    register(dsn)
    try:
        password = conninfo.conninfo_to_dict(dsn).get("password")
        register(None if password is None else str(password))
    except psycopg.ProgrammingError:
        pass


def advisory_key(schema: str, project: str) -> int:
    """A signed 64-bit key for pg_advisory_lock, stable for (schema, project)."""
    digest = hashlib.blake2b(f"campaignctl:{schema}:{project}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresStore(Store):
    """The state of one project in a PostgreSQL schema."""

    def __init__(self, dsn: str, *, schema: str = "campaignctl", project: str) -> None:
        if not SCHEMA_NAME.match(schema):
            raise ConfigError(f"state.schema {schema!r}: use lower-case letters, digits and _")
        self._dsn = dsn
        self.schema, self.project = schema, project
        self.where = f"PostgreSQL {describe_dsn(dsn)}, schema {schema}, project {project}"
        self._key = advisory_key(schema, project)
        self._lock = threading.RLock()
        self._buffer: list[tuple[str, tuple[Any, ...]]] | None = None  # cache writes of an open batch()
        self._held: str | None = None
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="campaignctl",
                                       keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
        except psycopg.Error as exc:
            raise StateError(f"cannot connect to the {self.where}: {scrub(str(exc), dsn)}") from None
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def from_settings(cls, settings: StateSettings, env: Mapping[str, str]) -> PostgresStore:
        dsn = (env.get(settings.dsn_env) or "").strip()
        if not dsn:
            raise ConfigError(f"state: the environment variable {settings.dsn_env} is not set (the PostgreSQL "
                              "connection string comes from the environment only)")
        register_dsn(dsn)  # whatever layer formats a message with it, the command line redacts it
        if not settings.project:
            raise ConfigError("state: backend postgres needs a `project` key")
        return cls(dsn, schema=settings.schema, project=settings.project)

    # -- plumbing -------------------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text.replace("{s}", f'"{self.schema}"')

    def _fail(self, exc: psycopg.Error) -> StateError:
        if self._db.closed or self._db.broken:
            return StateError(f"{self.where}: the database connection was lost; nothing more is sent, and writes "
                              "whose outcome was not recorded are resolved by reading on the next run")
        return StateError(f"{self.where}: {scrub(str(exc), self._dsn)}")

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                cur = self._db.execute(self._sql(sql), args)
                return cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                raise self._fail(exc) from None

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        """A cache write: buffered while a batch() is open (sent together at its end), else at once."""
        with self._lock:
            if self._buffer is not None:
                self._buffer.append((sql, args))
                return
        self._exec(sql, args)

    def _migrate(self) -> None:
        s = self._sql("{s}")
        try:
            with self._lock, self._db.transaction():
                # one migrator at a time per schema; DDL is transactional, so a failed step leaves the old version
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.schema, "migrations"),))
                self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {s}.schema_version (version INTEGER PRIMARY KEY, "
                                 "applied_at TEXT NOT NULL)")
                row = self._db.execute(f"SELECT COALESCE(MAX(version), 0) FROM {s}.schema_version").fetchone()
                version = row[0] if row else 0
                if version > SCHEMA_VERSION:
                    raise StateError(f"{self.where}: state schema {version} is newer than this campaignctl "
                                     f"understands ({SCHEMA_VERSION}); upgrade campaignctl")
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    self._db.execute(self._sql(MIGRATIONS[target]))
                    self._db.execute(f"INSERT INTO {s}.schema_version VALUES (%s, %s)", (target, utcnow(self.clock)))
        except psycopg.Error as exc:
            raise StateError(f"{self.where}: cannot prepare the schema: {scrub(str(exc), self._dsn)}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Cache writes inside are sent together (one round trip per kind, not per row) in one transaction."""
        with self._lock:
            self._buffer = []
            try:
                yield
                pending, self._buffer = self._buffer, None
                with self._db.transaction(), self._db.cursor() as cur:
                    i = 0
                    while i < len(pending):
                        j = i
                        while j < len(pending) and pending[j][0] == pending[i][0]:
                            j += 1
                        cur.executemany(self._sql(pending[i][0]), [args for _, args in pending[i:j]])
                        i = j
            except psycopg.Error as exc:
                raise self._fail(exc) from None
            finally:
                self._buffer = None

    # -- cache ----------------------------------------------------------------------------------
    def cache(self) -> dict[Address, StateRecord]:
        rows = self._exec("SELECT address, remote_id, status, vendor_status, attempt, observed_at, extra "
                          "FROM {s}.objects WHERE project = %s", (self.project,))
        return records_from_rows(rows[i:i + 10_000] for i in range(0, len(rows), 10_000))

    def remember(self, address: Address, remote_id: str | None, *, status: str | None = None,
                 vendor_status: str | None = None, attempt: int = 0, observed_at: str | None = None,
                 extra: dict[str, Any] | None = None, unless_updated_after: str | None = None) -> None:
        guard = " WHERE objects.updated_at <= %s" if unless_updated_after else ""
        self._write(
            "INSERT INTO {s}.objects AS objects (project, address, provider, kind, remote_id, status, vendor_status, "
            "attempt, observed_at, extra, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (project, address) DO UPDATE SET remote_id=excluded.remote_id, status=excluded.status, "
            "vendor_status=excluded.vendor_status, attempt=excluded.attempt, "
            "observed_at=COALESCE(excluded.observed_at, objects.observed_at), extra=excluded.extra, "
            "updated_at=excluded.updated_at" + guard,
            (self.project, str(address), address.provider, address.kind, remote_id, status, vendor_status, attempt,
             observed_at, json.dumps(extra or {}, sort_keys=True), utcnow(self.clock),
             *((unless_updated_after,) if guard else ())),
        )

    def forget(self, address: Address) -> None:
        self._write("DELETE FROM {s}.objects WHERE project = %s AND address = %s", (self.project, str(address)))

    # -- journal --------------------------------------------------------------------------------
    def intent(self, apply_id: str, address: Address, operation: Operation, *, attempt: int = 0,
               detail: dict[str, Any] | None = None) -> int:
        rows = self._exec(
            "INSERT INTO {s}.journal (project, apply_id, at, address, operation, attempt, phase, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'intent', %s) RETURNING seq",
            (self.project, apply_id, utcnow(self.clock), str(address), str(operation), attempt,
             json.dumps(detail or {}, sort_keys=True)),
        )
        return int(rows[0][0])

    def outcome(self, intent_seq: int, result: Outcome, *, remote_id: str | None = None, request_id: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
        """Inside a batch() the outcome commits with its cache writes (a start's outcome and the row of what
        the vendor now holds: a crash between them must not leave one without the other)."""
        sql = ("INSERT INTO {s}.journal (project, apply_id, at, address, operation, attempt, phase, intent_seq, "
               "result, remote_id, request_id, detail) SELECT project, apply_id, %s, address, operation, attempt, "
               "'outcome', seq, %s, %s, %s, %s FROM {s}.journal WHERE project = %s AND seq = %s AND phase = 'intent'")
        args = (utcnow(self.clock), str(result), remote_id, request_id, json.dumps(detail or {}, sort_keys=True),
                self.project, intent_seq)
        with self._lock:
            if self._buffer is not None:
                if not self._exec("SELECT 1 FROM {s}.journal WHERE project = %s AND seq = %s AND phase = 'intent'",
                                  (self.project, intent_seq)):
                    raise StateError(f"journal has no intent {intent_seq}")
                self._buffer.append((sql, args))
                return
        if not self._exec(sql + " RETURNING seq", args):
            raise StateError(f"journal has no intent {intent_seq}")

    def _entries(self, where: str, args: tuple[Any, ...] = ()) -> list[JournalEntry]:
        rows = self._exec(f"SELECT {JOURNAL_COLS} FROM {{s}}.journal WHERE project = %s {where}", (self.project, *args))
        return [entry_from_row(r) for r in rows]

    def journal(self, address: str | None = None) -> list[JournalEntry]:
        if address:
            return self._entries("AND address = %s ORDER BY seq", (address,))
        return self._entries("ORDER BY seq")

    def in_doubt(self) -> list[JournalEntry]:
        return self._entries(
            "AND phase = 'intent' AND NOT EXISTS (SELECT 1 FROM {s}.journal o WHERE o.project = journal.project "
            "AND o.intent_seq = journal.seq AND o.result = ANY(%s)) ORDER BY seq", (list(RESOLVED),))

    def enroll_intents_since(self, since: datetime) -> list[tuple[str, str]]:
        stamp = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rows = self._exec(
            "SELECT i.address, i.at FROM {s}.journal i WHERE i.project = %s AND i.phase = 'intent' "
            "AND i.operation = %s AND i.at >= %s AND NOT EXISTS (SELECT 1 FROM {s}.journal o "
            "WHERE o.project = i.project AND o.intent_seq = i.seq AND o.result = ANY(%s)) ORDER BY i.seq",
            (self.project, str(Operation.ENROLL), stamp, list(SENT_NOTHING)),
        )
        return [(address, at) for address, at in rows]

    # -- lock -----------------------------------------------------------------------------------
    def _try_lock(self, holder: str) -> str:
        with self._lock:
            # advisory locks are re-entrant within a session: this store holding it counts as held
            got = self._held is None and self._exec("SELECT pg_try_advisory_lock(%s)", (self._key,))[0][0]
            if not got:
                raise LockError(self._held_message(self._holder_row()))
            lock_id = new_lock_id()
            try:
                # a row left by a killed holder is stale: its session, and so its lock, is gone
                self._exec("INSERT INTO {s}.locks (project, id, holder, pid, host, since) "
                           "VALUES (%s, %s, %s, %s, %s, %s) "
                           "ON CONFLICT (project) DO UPDATE SET id=excluded.id, holder=excluded.holder, "
                           "pid=excluded.pid, host=excluded.host, since=excluded.since",
                           (self.project, lock_id, holder, os.getpid(), socket.gethostname(), utcnow(self.clock)))
            except StateError:
                self._unlock_session()
                raise
            self._held = lock_id
            return lock_id

    def _unlock_session(self) -> None:
        try:
            self._exec("SELECT pg_advisory_unlock(%s)", (self._key,))
        except StateError:
            pass  # the connection is gone, and with it the lock

    def release_lock(self, lock_id: str) -> None:
        """Delete the holder row and release the advisory lock; with the connection gone (a server
        restart) the lock went with it, and the stale row is overwritten by the next holder."""
        with self._lock:
            try:
                self._exec("DELETE FROM {s}.locks WHERE project = %s AND id = %s", (self.project, lock_id))
            except StateError:
                pass
            if self._held == lock_id:
                self._unlock_session()
                self._held = None

    def _holder_row(self) -> dict[str, Any] | None:
        rows = self._exec("SELECT id, holder, pid, host, since FROM {s}.locks WHERE project = %s", (self.project,))
        return dict(zip(("id", "holder", "pid", "host", "since"), rows[0], strict=True)) if rows else None

    def _lock_in_force(self) -> bool:
        """Whether some live session (this one included) holds the project's advisory lock."""
        unsigned = self._key & 0xFFFFFFFFFFFFFFFF
        return bool(self._exec(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = %s AND objid::bigint = %s", (unsigned >> 32, unsigned & 0xFFFFFFFF)))

    def current_lock(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._holder_row()
            return row if row and self._lock_in_force() else None

    def unlock(self, lock_id: str) -> None:
        with self._lock:
            row = self._holder_row()
            if row is None:
                raise LockError("the state is not locked")
            if row["id"] != lock_id:
                raise LockError(f"lock id {lock_id!r} does not match the current lock {row['id']!r}")
            if self._lock_in_force():
                raise LockError(self._held_message(row) + "; `state unlock` only clears the row of a lock "
                                "whose session is gone")
            self._exec("DELETE FROM {s}.locks WHERE project = %s AND id = %s", (self.project, lock_id))

    def _held_message(self, row: dict[str, Any] | None) -> str:
        who = (f"{row['holder']} (pid {row['pid']} on {row['host']}, apply {row['id']}, since {row['since']})"
               if row else "another campaignctl session")
        return (f"the state ({self.where}) is locked by {who}; the lock is held by that apply's database "
                "session and is released when it ends or dies; pass --lock-timeout SECONDS to wait for it")

    # -- meta, adoptions ------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._exec("SELECT value FROM {s}.meta WHERE project = %s AND key = %s", (self.project, key))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        self._write("INSERT INTO {s}.meta (project, key, value) VALUES (%s, %s, %s) "
                    "ON CONFLICT (project, key) DO UPDATE SET value = excluded.value",
                    (self.project, key, json.dumps(value)))

    def adopt(self, address: Address, remote_id: str) -> None:
        self._write("INSERT INTO {s}.adoptions (project, address, remote_id, at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (project, address) DO UPDATE SET remote_id = excluded.remote_id, at = excluded.at",
                    (self.project, str(address), remote_id, utcnow(self.clock)))

    def adopted(self) -> frozenset[Address]:
        rows = self._exec("SELECT address FROM {s}.adoptions WHERE project = %s", (self.project,))
        return frozenset(a for a in (stored_address(t) for (t,) in rows) if a is not None)

    def clear_adoption(self, address: Address) -> None:
        self._write("DELETE FROM {s}.adoptions WHERE project = %s AND address = %s", (self.project, str(address)))

    # -- whole-state copies ---------------------------------------------------------------------
    def dump(self, table: str) -> list[tuple[Any, ...]]:
        rows = self._exec(f"SELECT {', '.join(TABLES[table])} FROM {{s}}.{table} WHERE project = %s "
                          f"ORDER BY {ORDER_BY[table]}", (self.project,))
        return [tuple(r) for r in rows]

    def load(self, rows: Mapping[str, list[tuple[Any, ...]]]) -> None:
        with self._lock:
            try:
                with self._db.transaction(), self._db.cursor() as cur:
                    for table, cols in TABLES.items():
                        marks = ", ".join(["%s"] * (len(cols) + 1))
                        cur.executemany(self._sql(f"INSERT INTO {{s}}.{table} (project, {', '.join(cols)}) "
                                                  f"VALUES ({marks})"),
                                        [(self.project, *row) for row in rows.get(table, [])])
                    # new journal rows must number after the copied ones
                    cur.execute(self._sql("SELECT setval('{s}.journal_seq', GREATEST((SELECT last_value FROM "
                                          "{s}.journal_seq), (SELECT COALESCE(MAX(seq), 1) FROM {s}.journal)))"))
            except psycopg.Error as exc:
                raise self._fail(exc) from None

