"""SQLite persistence of the sandbox: simulator collections, metadata, the request log and the send ledger.

Every collection is an insertion-ordered id -> object map kept in SQLite (rows are decoded when
asked for, not held), written in one transaction per request, so a process killed mid-run loses
nothing the vendor had acknowledged, and `plan` -> `apply` -> `plan` in three processes sees one account.
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.request import SimRequest


class Row(dict[str, Any]):
    """A stored object as the simulators see it: a dict that a weak reference can point at."""

    __slots__ = ("__weakref__",)


class Collection:
    """An insertion-ordered id -> JSON object map whose rows live in SQLite, not in memory.

    A row is decoded when asked for and kept only while someone holds it (a weak cache), so the
    same id gives the same object to everyone holding it, as a dict would, while a 150k-contact
    account no longer sits in memory whole (issue 17: it was half the CLI's peak RSS). put and
    delete write through at once in the open transaction, so order (SQLite rowid: a replaced row
    keeps its place, a deleted one re-inserted goes last) and every later query match a dict's;
    Store.commit re-encodes what was put, so a row mutated after its put is saved as it ends up.
    """

    def __init__(self, store: Store, db: sqlite3.Connection, name: str) -> None:
        self._store = store
        self._db = db
        self.name = name
        self._live: weakref.WeakValueDictionary[str, Row] = weakref.WeakValueDictionary()
        self._dirty: dict[str, Any] = {}  # put since the last commit: held until written
        self.version = 0  # bumped on every put/delete: simulators memoise filtered lists against it

    def _row(self, key: str, body: str) -> Any:
        obj = self._live.get(key)
        if obj is None:
            decoded = json.loads(body)
            if not isinstance(decoded, dict):
                return decoded
            obj = self._live[key] = Row(decoded)
        return obj

    def get(self, key: str) -> Any | None:
        obj = self._dirty.get(key)
        if obj is None:
            obj = self._live.get(key)
        if obj is not None:
            return obj
        found = self._db.execute("SELECT body FROM objects WHERE coll = ? AND key = ?", (self.name, key)).fetchone()
        return None if found is None else self._row(key, found[0])

    def get_many(self, keys: list[str]) -> list[Any | None]:
        """get() of each key, in order, with the rows not yet held read in one query per 500 keys
        (a list page loaded one SELECT per row cost a third of the sandbox's time, issue 17)."""
        found: dict[str, Any] = {}
        missing = []
        for key in keys:
            obj = self._dirty.get(key)
            if obj is None:
                obj = self._live.get(key)
            if obj is None:
                missing.append(key)
            else:
                found[key] = obj  # held here: a weakly cached row must outlive this call
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            sql = f"SELECT key, body FROM objects WHERE coll = ? AND key IN ({','.join('?' * len(chunk))})"
            for key, body in self._db.execute(sql, (self.name, *chunk)).fetchall():
                found[key] = self._row(key, body)
        return [found.get(key) for key in keys]

    def __getitem__(self, key: str) -> Any:
        """A row the caller knows is there (KeyError if not)."""
        obj = self.get(key)
        if obj is None:
            raise KeyError(key)
        return obj

    def put(self, key: str, obj: Any) -> None:
        """Insert or replace; call again after mutating an object in place."""
        self._write(key, obj)
        self._dirty[key] = obj
        if isinstance(obj, Row):
            self._live[key] = obj
        else:
            self._live.pop(key, None)
        self.version += 1
        self._store.mark_dirty(self.name)

    def _write(self, key: str, obj: Any) -> None:
        self._db.execute(
            "INSERT INTO objects (coll, key, body) VALUES (?, ?, ?) "
            "ON CONFLICT(coll, key) DO UPDATE SET body = excluded.body",
            (self.name, key, json.dumps(obj)),
        )

    def delete(self, key: str) -> None:
        self._dirty.pop(key, None)
        self._live.pop(key, None)
        if self._db.execute("DELETE FROM objects WHERE coll = ? AND key = ?", (self.name, key)).rowcount:
            self.version += 1

    def flush(self) -> None:
        """Write every row put since the last flush as it is now (called by Store.commit)."""
        for key, obj in self._dirty.items():
            self._write(key, obj)
        self._dirty.clear()

    def scan(self) -> Iterator[tuple[str, Any]]:
        """(id, row) in insertion order, decoded one at a time (a filter over 50k rows keeps only
        what it keeps). The rows are read before the first is yielded, so writes while scanning are safe."""
        sql = "SELECT key, body FROM objects WHERE coll = ? ORDER BY rowid"
        stored = self._db.execute(sql, (self.name,)).fetchall()
        for key, body in stored:
            obj = self._dirty.get(key)
            yield key, (obj if obj is not None else self._row(key, body))

    def values(self) -> list[Any]:
        return [obj for _, obj in self.scan()]

    def items(self) -> list[tuple[str, Any]]:
        return list(self.scan())

    def __contains__(self, key: object) -> bool:
        if key in self._dirty or key in self._live:
            return True
        found = self._db.execute("SELECT 1 FROM objects WHERE coll = ? AND key = ?", (self.name, key)).fetchone()
        return found is not None

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM objects WHERE coll = ?", (self.name,)).fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        keys = self._db.execute("SELECT key FROM objects WHERE coll = ? ORDER BY rowid", (self.name,)).fetchall()
        return iter([key for (key,) in keys])


class Store:
    """SQLite persistence for simulator collections, metadata, the request log and the send ledger.

    `path=None` keeps everything in memory (unit tests). The store is used by one process at a
    time: the in-process sandbox, or `sandbox serve`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8000;
            CREATE TABLE IF NOT EXISTS objects (coll TEXT, key TEXT, body TEXT, PRIMARY KEY (coll, key));
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS requests (seq INTEGER PRIMARY KEY AUTOINCREMENT, vendor TEXT,
                method TEXT, path TEXT, query TEXT, status INTEGER, at REAL, outcome TEXT);
            CREATE TABLE IF NOT EXISTS sends (seq INTEGER PRIMARY KEY AUTOINCREMENT, vendor TEXT,
                sequence_id TEXT, contact TEXT, enrollment_id TEXT, at REAL);
            """
        )
        self._collections: dict[str, Collection] = {}
        self._dirty: set[str] = set()  # collections with rows put since the last commit
        self._pending_log: list[tuple[Any, ...]] = []

    def collection(self, name: str) -> Collection:
        """The named collection (e.g. '<vendor>.cards'); its rows stay in SQLite until asked for."""
        coll = self._collections.get(name)
        if coll is None:
            coll = self._collections[name] = Collection(self, self._db, name)
        return coll

    def meta_get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def meta_set(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def log_request(self, vendor: str, req: SimRequest, status: int | None, at: float, outcome: str) -> None:
        """Record one request (kept for tests and `sandbox requests`); written on commit."""
        query = "&".join(f"{k}={v}" for k, vs in sorted(req.query.items()) for v in vs)
        self._pending_log.append((vendor, req.method, req.path, query, status, at, outcome))

    def record_send(self, vendor: str, sequence_id: str, contact: str, enrollment_id: str, at: float) -> None:
        """Record that the vendor created an enrollment, i.e. real messages would go out."""
        self._db.execute(
            "INSERT INTO sends (vendor, sequence_id, contact, enrollment_id, at) VALUES (?, ?, ?, ?, ?)",
            (vendor, sequence_id, contact, enrollment_id, at),
        )

    def mark_dirty(self, collection: str) -> None:
        """A row of `collection` was put: re-encoded at the next commit."""
        self._dirty.add(collection)

    def commit(self) -> None:
        """Write dirty objects and the request log in one transaction."""
        for coll_name in self._dirty:
            self._collections[coll_name].flush()
        self._dirty.clear()
        if self._pending_log:
            self._db.executemany(
                "INSERT INTO requests (vendor, method, path, query, status, at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._pending_log,
            )
            self._pending_log.clear()
        self._db.commit()

    def requests(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """Every request logged so far, oldest first."""
        self.commit()
        sql = "SELECT vendor, method, path, query, status, at, outcome FROM requests"
        args: tuple[Any, ...] = ()
        if vendor:
            sql += " WHERE vendor = ?"
            args = (vendor,)
        cols = ("vendor", "method", "path", "query", "status", "at", "outcome")
        return [dict(zip(cols, row, strict=True)) for row in self._db.execute(sql + " ORDER BY seq", args)]

    def request_counts(self) -> dict[str, int]:
        """vendor -> requests logged so far (a count, without loading the log: benchmarks log 100k+)."""
        self.commit()
        return dict(self._db.execute("SELECT vendor, COUNT(*) FROM requests GROUP BY vendor").fetchall())

    def sends(self, vendor: str | None = None) -> dict[tuple[str, str, str], int]:
        """(vendor, sequence, contact) -> how many enrollments were ever created. >1 is a duplicate send."""
        self.commit()
        sql = "SELECT vendor, sequence_id, contact, COUNT(*) FROM sends"
        args: tuple[Any, ...] = ()
        if vendor:
            sql += " WHERE vendor = ?"
            args = (vendor,)
        return {(v, s, c): n for v, s, c, n in self._db.execute(sql + " GROUP BY vendor, sequence_id, contact", args)}

    def close(self) -> None:
        self.commit()
        self._db.close()
